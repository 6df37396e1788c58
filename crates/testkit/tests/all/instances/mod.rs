mod cluster;
mod engine_faults;
mod faults;
mod queue;
mod sessions;
mod together;
