"""Host networking for the engine: bridges, veth pairs, IPAM, DNS, published ports, egress."""
