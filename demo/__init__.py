"""Demo and test data, outside the domain code: the synthetic registry dataset and its cast
(`registry`, `people`), the demo accounts (`seed`) and a demo data-exchange platform
(`exchange_server`). It may import `services`, `forms` and `engine`; they never import it."""
