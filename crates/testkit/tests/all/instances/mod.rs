mod cluster;
mod engine_faults;
mod faults;
mod sessions;
mod together;
