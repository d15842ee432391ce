"""Wire contracts of Seva Hub: pydantic models for what crosses a socket or HTTP, and errors."""
