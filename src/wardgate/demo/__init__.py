"""The `wardgate demo` tour: a sample shop database behind the gateway."""
