"""Known ways out of Python sandboxes, and resource bombs: each must be refused when it is checked
and when it runs, wherever administrators write code (tests/security/test_sandbox*.py).

`{canary}` stands for a file a payload would create if its side effect ever ran; `x` is a data
value (a string) in the context the payloads run over. Scripts are statements; every expression
is also tried as a script (`value = <expression>`).
"""

from __future__ import annotations

from dataclasses import dataclass

CANARY = "{canary}"


@dataclass(frozen=True)
class Payload:
    name: str
    source: str
    script: bool = False

    def with_canary(self, path: str) -> str:
        return self.source.replace(CANARY, path)


def _expressions(*pairs: tuple[str, str]) -> tuple[Payload, ...]:
    return tuple(Payload(name, source) for name, source in pairs)


def _scripts(*pairs: tuple[str, str]) -> tuple[Payload, ...]:
    return tuple(Payload(name, source, script=True) for name, source in pairs)


ESCAPES = _expressions(
    # module attributes of every value the sandbox offers
    (
        "datetime-module-sys",
        "(datetime.sys.modules['os'].system('touch {canary}') == 0 or True) and x == 's'",
    ),
    ("datetime-class-module", "date.__module__"),
    ("datetime-class-dict", "datetime.__dict__['now']()"),
    ("datetime-module-style", "datetime.datetime.now()"),
    ("date-today-nondeterministic", "date.today()"),
    ("timedelta-class-attribute", "timedelta.max.days"),
    ("builtin-self-is-builtins", "len.__self__.open('{canary}', 'w')"),
    ("offered-function-globals", "sorted.__globals__['os'].system('touch {canary}')"),
    ("registered-function-globals", "due_in_working_days.__globals__['__builtins__']"),
    ("registered-function-code", "due_in_working_days.__code__.co_consts"),
    ("registered-function-closure", "due_in_working_days.__closure__[0].cell_contents"),
    ("registered-function-plain-attribute", "due_in_working_days.func_globals"),
    ("bound-wrapper-attribute", "str.join"),
    ("class-mro", "str.mro()"),
    # the type hierarchy
    ("subclasses-of-object", "().__class__.__base__.__subclasses__()"),
    ("mro-of-str", "''.__class__.__mro__[1].__subclasses__()"),
    (
        "popen-via-subclasses",
        "[c for c in ().__class__.__bases__[0].__subclasses__() if c.__name__ == 'Popen'][0]"
        "(['touch', '{canary}'])",
    ),
    ("fullwidth-dunder", "().__\uff43\uff4c\uff41\uff53\uff53__"),  # NFKC: __class__
    ("fullwidth-frame", "(y for y in [1]).\uff47\uff49_\uff46\uff52\uff41\uff4d\uff45"),
    ("reduce-ex", "x.__reduce_ex__(2)"),
    ("getattribute", "x.__getattribute__('upper')"),
    ("int-class-method", "int.from_bytes([1], 'big')"),
    # str.format and friends reading attributes from a format string
    ("format-attribute-chain", "'{0.__class__.__init__.__globals__}'.format(x)"),
    ("format-generator-frame", "'{0.gi_frame.f_globals}'.format(y for y in [1])"),
    ("format-map", "'{d.__init__.__globals__[os]}'.format_map({'d': date})"),
    ("format-builtin", "format(x, '>999999999')"),
    ("percent-format", "'%(a)s' % {'a': 1}"),
    ("fstring-attribute", "f'{date.__module__}'"),
    ("fstring-computed-width", "f\"{'x':>{10 ** 9}}\""),
    ("fstring-repr-computed-width", "f'{x!r:>{len(x) * 10 ** 8}}'"),
    ("fstring-huge-width", "f'{1:>999999999}'"),
    ("fstring-format-call", "f\"{'{0.__class__}'.format(1)}\""),
    # frames of generators, coroutines, async generators and tracebacks
    ("generator-frame-globals", "(y for y in [1]).gi_frame.f_globals['__builtins__']"),
    ("generator-frame-back", "(y for y in [1]).gi_frame.f_back.f_back.f_globals"),
    ("generator-code", "(y for y in [1]).gi_code.co_consts"),
    ("coroutine-frame", "x.cr_frame.f_back.f_globals"),
    ("async-generator-frame", "x.ag_frame.f_globals"),
    ("traceback-frame", "x.tb_frame.f_back.f_globals"),
    ("frame-builtins", "x.f_builtins['open']('{canary}', 'w')"),
    (
        "walrus-frame-walk",
        "[(g := (y.gi_frame.f_back.f_back.f_globals for y in [1])), "
        "list(g)[0]['__builtins__']['eval'](\"open('{canary}', 'w')\")]",
    ),
    ("walrus-in-comprehension", "[(y := z) for z in [1]]"),
    # names that reach the interpreter
    ("import", "__import__('os').system('touch {canary}')"),
    ("builtins-dict", "__builtins__['open']('{canary}', 'w')"),
    ("open", "open('{canary}', 'w')"),
    ("eval", "eval(\"open('{canary}', 'w')\")"),
    ("exec", "exec('y = 1')"),
    ("compile", "compile('1', 'f', 'eval')"),
    ("globals", "globals()['__builtins__']"),
    ("getattr-dunder-by-concatenation", "getattr(date, '__mod' + 'ule__')"),
    ("vars", "vars(date)"),
    ("type", "type(x).__subclasses__(type(x))"),
    ("object", "object.__subclasses__()"),
    ("chr-dunder", "chr(95) * 2 + 'class' + chr(95) * 2"),
    ("print", "print(x)"),
    ("breakpoint", "breakpoint()"),
    ("memoryview", "memoryview(x)"),
    # functions: lambdas, default arguments
    ("lambda", "(lambda: open('{canary}', 'w'))()"),
    ("lambda-default-argument", "(lambda f=open: f('{canary}', 'w'))()"),
    # syntax the sandbox does not offer
    ("star-unpacking", "[*range(10 ** 9)]"),
    ("dict-unpacking", "{**{'a': 1}}"),
    ("bytes", "b'x'"),
    ("ellipsis", "..."),
    # views and other objects that are not data
    ("dict-view-subscript", "{'a': 1}.keys()[0]"),
    ("dict-view-mapping", "{'a': 1}.items().mapping"),
    ("dict-fromkeys", "dict.fromkeys(range(10 ** 8))"),
    ("method-of-other-type", "'abc'.get('a')"),
)

BOMBS = _expressions(
    ("replace-10-8", "('x' * 10000).replace('x', 'x' * 10000)"),
    ("replace-empty", "('x' * 10000).replace('', 'y' * 1000)"),
    ("replace-10-12", "('x' * 10 ** 4).replace('x', 'x' * 10 ** 4).replace('x', 'x' * 10 ** 4)"),
    ("join", "','.join(['x' * 10000] * 10000)"),
    ("join-generator", "'-'.join(str(i) for i in range(10 ** 7))"),
    ("repeat-string", "'x' * 10 ** 12"),
    ("repeat-list", "[0] * 10 ** 9"),
    ("repeat-nested-list", "[[0] * 10000] * 10000 * 10000"),
    ("concatenation", "('x' * 10000) + ('y' * 10000)"),
    ("power", "10 ** 10 ** 8"),
    ("power-of-two", "2 ** 100000"),
    ("big-int-power", "int('9' * 4000) ** 4000"),
    ("shift", "1 << 10 ** 8"),
    ("range", "sum(range(10 ** 12))"),
    ("sorted-range", "sorted(range(10 ** 9))"),
    ("set-range", "set(range(10 ** 8))"),
    ("str-list-range", "str(list(range(10 ** 6)))"),
    ("issue-condition", "sum(len(str(list(range(10**6)))) for _ in range(60)) > 0"),
    ("str-of-big-list", "len(str([['x' * 10000] * 10000]))"),
    ("fstring-big-value", "f\"{['x' * 9000] * 9000}\""),
    ("nested-comprehensions", "sum(1 for a in range(9999) for b in range(9999))"),
    ("nested-list-comprehension", "len([a * b for a in range(5000) for b in range(5000)])"),
    ("round-digits", "round(5, -10 ** 9)"),
    ("sum-of-lists", "sum([[1] * 1000] * 1000, [])"),
    (
        "time-bomb-within-size-bounds",
        "[1 for a in ['x' * 10000] for c in ['x' * 9999 + 'x'] for l in [[a] * 5000] "
        "for m in [[c] * 5000] for i in range(10000) if l == m]",
    ),
    ("colliding-hashes", "len(set([i * (2 ** 61 - 1) for i in range(10000)]))"),
    ("colliding-hashes-union", "len(set().union([i * (2 ** 61 - 1) for i in range(10000)]))"),
    ("colliding-hashes-set-comprehension", "len({i * (2 ** 61 - 1) for i in range(10000)})"),
    ("colliding-hashes-dict-comprehension", "len({i * (2 ** 61 - 1): 0 for i in range(10000)})"),
    ("colliding-hashes-dict", "len(dict([(i * (2 ** 61 - 1), 0) for i in range(10000)]))"),
    ("deep-nesting", "-" * 1500 + "1"),
    ("long-source", "x == '" + "y" * 4000 + "'"),
)

SCRIPTS = _scripts(
    ("script-import", "import os\nos.system('touch {canary}')"),
    ("script-from-import", "from os import system\nsystem('touch {canary}')"),
    ("script-decorator", "@open\ndef f():\n    pass"),
    ("script-default-argument", "def f(m=__import__('os')):\n    m.system('touch {canary}')\nf()"),
    ("script-class", "class A:\n    pass"),
    (
        "script-traceback-frames",
        "try:\n    y = 1 / 0\nexcept Exception as e:\n    g = e.__traceback__.tb_frame.f_globals",
    ),
    ("script-while", "while True:\n    pass"),
    ("script-global", "global y\ny = 1"),
    ("script-with", "with open('{canary}', 'w') as f:\n    pass"),
    ("script-attribute-assignment", "date.today = 1"),
    ("script-delete", "del x"),
    ("script-raise", "raise SystemExit"),
    ("script-async", "async def f():\n    pass\ny = f().cr_frame"),
    ("script-yield", "def g():\n    yield 1\ny = g().gi_frame"),
    ("script-shadow-offered-name", "len = open\nlen('{canary}', 'w')"),
    ("script-slice-assignment-growth", "y = [1]\nfor i in range(40):\n    y[0:0] = y"),
    ("script-doubling-string", "s = 'x'\nfor i in range(100):\n    s = s + s"),
    ("script-doubling-list", "y = [1]\nfor i in range(30):\n    y.extend(y)"),
    ("script-augmented-repetition", "s = 'ab'\ns *= 10 ** 8"),
    ("script-range-loop", "d = {}\nfor i in range(10 ** 6):\n    d[i] = i"),
    (
        "script-nested-loops",
        "t = 0\nfor i in range(9999):\n    for j in range(9999):\n        t += 1",
    ),
    ("script-generator-into-data", "y = (z for z in [1])"),
)

EXPRESSIONS = ESCAPES + BOMBS
PAYLOADS = EXPRESSIONS + SCRIPTS
