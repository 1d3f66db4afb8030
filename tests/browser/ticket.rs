//! Browser tests of the ticket pages.
