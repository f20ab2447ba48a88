"""Policy text -> checked, compiled Policy: `loader` (YAML with positions),
`parser` (lark grammar), `checker` (types, names, constant folding), `functions`
(the one registry of expression functions: arity, constant arguments, type rule,
scalar and vector meaning), `semantics` (the scalar three-valued meaning of every
operator), `vectors` (how values look in the vectorised evaluator), `policy` (the
model), `ast`, `types`.
"""
