"""What administrators configure at run time over the catalog: matters, departments, users,
the holiday calendar."""
