mod cluster;
mod faults;
