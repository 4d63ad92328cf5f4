//! # mesh-xds
//!
//! Pilot's job as a library (not yet written): an xDS server speaking ADS in both the
//! State-of-the-World and Delta variants on tonic, per-proxy push state with debounced and scoped
//! pushes ordered CDS -> EDS -> LDS -> RDS, ACK/NACK tracking and proxy status
//! (SYNCED / STALE / NOT SENT), an xDS client for bespoke data planes, config sources (a watched
//! directory of YAML), and the debug and metrics HTTP endpoints.
