"""The integrity evidence: chain verification, SQL link hashing, proofs and their Merkle index, the offline
checker and the witness."""
