"""Channel setup: messaging accounts (Facebook apps), their Pages and their provisioning."""
