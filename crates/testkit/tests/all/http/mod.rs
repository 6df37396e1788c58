mod security_edge;
