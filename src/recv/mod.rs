//! The receiver: capture, parse, validate, deduplicate, classify. (Live scanning.)
