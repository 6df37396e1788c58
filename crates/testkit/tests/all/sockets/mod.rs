mod direct;
mod dispatch;
mod frames;
mod grace;
mod host_status;
mod messages;
