"""The client inventory: who connects (agent), from where (network), over what, grouped into architectures."""
