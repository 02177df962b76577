// SPDX-License-Identifier: Apache-2.0
//! Seeded generator of randomised command sequences.
