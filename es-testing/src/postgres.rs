//! A fresh PostgreSQL database per test. Arrives with the PostgreSQL issue.
