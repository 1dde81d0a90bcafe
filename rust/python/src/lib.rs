//! The extension module `seqpack._core`: conversions, GIL release and error mapping over
//! `seqpack-core`, nothing else.
