"""Pure crystal-structure operations on pymatgen structures (no AiiDA): ordering disordered crystals in a supercell."""
