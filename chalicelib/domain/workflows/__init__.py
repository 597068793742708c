"""The workflow engine's pure core: the definition model and its validation (`model`,
`validation`), `{{ }}` templates (`templates`), condition semantics (`conditions`) and the
compiler to Amazon States Language (`compiler`). No I/O here."""
