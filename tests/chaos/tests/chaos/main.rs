// SPDX-License-Identifier: Apache-2.0
//! The fault suite's tests in one binary (one link): the proxy's modes, disk and file faults
//! on a small tmpfs, and the short randomized multi-client run CI does.

mod disk;

mod disk_faults;
mod proxy;
mod short_run;
