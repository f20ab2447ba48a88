"""Policy text -> checked, compiled Policy: `loader` (YAML with positions),
`parser` (lark grammar), `checker` (types, names, constant folding), `semantics`
(the scalar three-valued meaning of every operator and function), `policy` (the
model), `ast`, `types`.
"""
