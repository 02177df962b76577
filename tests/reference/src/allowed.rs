// SPDX-License-Identifier: Apache-2.0
//! Deliberate differences between our core and the reference (see `docs/differences.md`).
