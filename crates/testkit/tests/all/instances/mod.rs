mod cluster;
mod engine_faults;
mod faults;
mod racing;
mod sessions;
mod together;
