//! The PostgreSQL event store. Arrives with the PostgreSQL issue; nothing here works yet.
