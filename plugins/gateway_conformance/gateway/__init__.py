"""The mock AI Gateway: four protocol surfaces behind one policy, ledger and fault layer."""
