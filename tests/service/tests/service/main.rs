// SPDX-License-Identifier: Apache-2.0
//! psync-test-service's integration tests in one binary (one link): the protocol, request
//! validation and token rules, write checkpoints, faults, scripted streams, the source file and
//! load, and the binary's command line.

mod common;

mod binary;
mod faults;
mod load;
mod protocol;
mod rejections;
mod scripted;
mod source_file;
mod write_checkpoints;
