//! Testing support. Arrives with the testing issue; nothing here works yet.
