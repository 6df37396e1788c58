mod cluster;
mod engine_faults;
mod faults;
mod joins;
mod queue;
mod sessions;
mod together;
