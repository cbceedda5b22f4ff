# citusgen's reader of Django settings files. It runs as one python3 process
# per citusgen run and answers requests on stdin/stdout:
#
#   request:  OP NAMELEN DATALEN\n NAME DATA      (OP: analyze or compile)
#   response: LEN\n JSON
#
# analyze says, with Python's own parser, where DATABASES and
# REPORTING_DATABASES are bound (or may be, or are unbound) in the module's
# namespace and whether every path through the module binds them, and
# which DATABASES aliases, REPORTING_DATABASES entries and top-level
# assignments the file writes, each with its lines, its byte span in the
# file and its value when that is a literal. compile says whether Python
# accepts the file. Nothing in a file is ever executed.
# It imports as little as it can (_ast, not ast; _json, not json, which
# imports re): its start-up is most of what `citusgen check` costs.
import _ast as ast
import sys

try:
    from _json import encode_basestring_ascii as json_string
except ImportError:  # a Python without the C accelerator
    from json.encoder import py_encode_basestring_ascii as json_string

PyCF_ONLY_AST = 0x400
Index = getattr(ast, "Index", None)  # Python 3.8 wraps subscripts in it

TRACKED = {"DATABASES": "databases", "REPORTING_DATABASES": "reporting"}


def problem(exc):
    """A one-line description of why Python refuses a file."""
    if isinstance(exc, SyntaxError):
        msg = exc.msg or str(exc)
        if exc.lineno:
            return "line %d: %s" % (exc.lineno, msg)
        return msg
    if isinstance(exc, UnicodeDecodeError):
        return "%s (not text in the file's encoding, %s)" % (exc.reason, exc.encoding)
    return str(exc) or type(exc).__name__


def parse(src, name):
    """Parses src (bytes) as Python does: a UTF-8 BOM or a coding
    declaration chooses the encoding. Returns (tree, encoding, text) or
    raises with Python's own complaint."""
    tree = compile(src, name, "exec", PyCF_ONLY_AST, dont_inherit=True)
    enc = "utf-8"
    if src.startswith(b"\xef\xbb\xbf"):
        enc = "utf-8-sig"
    elif b"coding" in b"\n".join(src.split(b"\n", 2)[:2]):
        import io
        import tokenize
        enc, _ = tokenize.detect_encoding(io.BytesIO(src).readline)
    return tree, enc, src.decode(enc)


class NotLiteral(Exception):
    pass


def literal(node):
    """The value of a literal display (what JSON can carry: strings,
    numbers, booleans, None, lists, tuples, dicts with string keys), or
    NotLiteral."""
    if isinstance(node, ast.Constant):
        v = node.value
        if v is None or isinstance(v, (str, bool, int)):
            return v
        if isinstance(v, float) and v == v and v not in (float("inf"), float("-inf")):
            return v
        raise NotLiteral
    if isinstance(node, (ast.List, ast.Tuple)):
        return [literal(x) for x in node.elts]
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values):
            if k is None:
                raise NotLiteral  # **other
            key = literal(k)
            if not isinstance(key, str):
                raise NotLiteral
            out[key] = literal(v)
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = literal(node.operand)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v if isinstance(node.op, ast.USub) else v
    raise NotLiteral


class Source:
    """Positions in the file: ast's (line, UTF-8 column) to byte offsets of
    the file as it is stored (another encoding, a BOM)."""

    def __init__(self, src, enc, text):
        self.src, self.enc, self.text = src, enc, text
        self.utf8 = enc in ("utf-8", "utf-8-sig")
        self.bom = 3 if enc == "utf-8-sig" else 0
        self.starts = None  # byte offset of each line, built on first use
        self.lines = None  # decoded lines, only for other encodings

    def line_start(self, lineno):
        if self.starts is None:
            starts, i = [0], self.src.find(b"\n")
            while i >= 0:
                starts.append(i + 1)
                i = self.src.find(b"\n", i + 1)
            self.starts = starts
        return self.starts[lineno - 1]

    def offset(self, lineno, col):
        base = self.line_start(lineno)
        if lineno == 1:
            base += self.bom
        if self.utf8:
            return base + col
        if self.lines is None:
            self.lines = self.text.split("\n")
        line = self.lines[lineno - 1]
        chars = len(line.encode("utf-8")[:col].decode("utf-8", "replace"))
        return base + len(line[:chars].encode(self.enc))

    def span(self, node):
        return [self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)]

    def segment(self, node):
        lines = self.text.split("\n") if self.lines is None and not self.utf8 else self.lines
        if self.utf8:
            a, b = self.span(node)
            return self.src[a:b].decode("utf-8", "replace")
        first = lines[node.lineno - 1].encode("utf-8")
        if node.lineno == node.end_lineno:
            return first[node.col_offset:node.end_col_offset].decode("utf-8", "replace")
        parts = [first[node.col_offset:].decode("utf-8", "replace")]
        parts += lines[node.lineno:node.end_lineno - 1]
        parts.append(lines[node.end_lineno - 1].encode("utf-8")[:node.end_col_offset].decode("utf-8", "replace"))
        return "\n".join(parts)


def dotted(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return base + "." + node.attr if base else None
    return None


def analyze(src, name):
    out = {"databases": [], "reporting": [], "assigns": [], "multiline": []}
    try:
        tree, enc, text = parse(src, name)
    except Exception as e:  # Python refuses the file: say why, never a traceback
        out["syntax_error"] = problem(e)
        return out
    out["encoding"] = enc
    s = Source(src, enc, text)

    def value_of(node):
        try:
            return {"literal": True, "value": literal(node)}
        except (NotLiteral, RecursionError):
            return {"literal": False, "source": s.segment(node)}

    def env_ref(node):
        # os.environ['X'], os.environ.get('X'[, default]), os.getenv('X'[, default])
        if isinstance(node, ast.Subscript) and dotted(node.value) == "os.environ":
            key = node.slice
            if Index is not None and isinstance(key, Index):
                key = key.value
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                return key.value
        if isinstance(node, ast.Call) and dotted(node.func) in ("os.environ.get", "os.getenv") and node.args:
            if isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                return node.args[0].value
        return None

    def describe(node):
        d = value_of(node)
        if isinstance(node, ast.Dict):
            # Per key, for aliases whose dict is partly literal (a password
            # from the environment).
            fields = {}
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and isinstance(k.value, str):
                    f = value_of(v)
                    ref = env_ref(v)
                    if ref:
                        f["env"] = ref
                    if isinstance(v, ast.Dict):
                        f["fields"] = describe(v).get("fields", {})
                    fields[k.value] = f
            d["fields"] = fields
        return d

    def dict_entries(kind, stmt, via, dnode, nested):
        spans = [((k or v).lineno, v.end_lineno) for k, v in zip(dnode.keys, dnode.values)]
        keys = [k.value for k in dnode.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
        for i, (k, v) in enumerate(zip(dnode.keys, dnode.values)):
            if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
                continue
            a, b = spans[i]
            # Entries of a dict display come in order: only neighbours can
            # share a line with this one.
            shared = (a == dnode.lineno or b == dnode.end_lineno
                      or (i > 0 and spans[i - 1][1] >= a)
                      or (i + 1 < len(spans) and spans[i + 1][0] <= b))
            entry = {"key": k.value, "via": via, "stmt": [stmt.lineno, stmt.end_lineno], "span": s.span(stmt),
                     "entry": [a, b], "shared": shared, "nested": nested,
                     "siblings": [x for x in keys if x != k.value]}
            entry.update(describe(v))
            out[kind].append(entry)

    def visit(stmts, nested):
        for st in stmts:
            if not nested:
                first = min([st.lineno] + [d.lineno for d in getattr(st, "decorator_list", [])])
                if st.end_lineno > first:
                    out["multiline"].append([first, st.end_lineno])
            # NAME = {...}
            if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
                name = st.targets[0].id
                if name in TRACKED and isinstance(st.value, ast.Dict):
                    dict_entries(TRACKED[name], st, "assign", st.value, nested)
                elif name not in TRACKED:
                    a = {"name": name, "stmt": [st.lineno, st.end_lineno], "span": s.span(st), "nested": nested}
                    a.update(value_of(st.value))
                    out["assigns"].append(a)
            # NAME['key'] = value
            if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Subscript):
                t = st.targets[0]
                key = t.slice.value if Index is not None and isinstance(t.slice, Index) else t.slice
                if (isinstance(t.value, ast.Name) and t.value.id in TRACKED and isinstance(key, ast.Constant)
                        and isinstance(key.value, str)):
                    e = {"key": key.value, "via": "subscript", "stmt": [st.lineno, st.end_lineno], "span": s.span(st),
                         "entry": [st.lineno, st.end_lineno], "shared": False, "nested": nested, "siblings": []}
                    e.update(describe(st.value))
                    out[TRACKED[t.value.id]].append(e)
            # NAME.update({...})
            if isinstance(st, ast.Expr) and isinstance(st.value, ast.Call):
                c = st.value
                f = c.func
                if (isinstance(f, ast.Attribute) and f.attr == "update" and isinstance(f.value, ast.Name)
                        and f.value.id in TRACKED and len(c.args) == 1 and isinstance(c.args[0], ast.Dict)
                        and not c.keywords):
                    dict_entries(TRACKED[f.value.id], st, "update", c.args[0], nested)
            if not isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    inner = getattr(st, field, None)
                    if isinstance(inner, list):
                        visit([x for x in inner if isinstance(x, ast.stmt)] +
                              [x for h in inner if isinstance(h, ast.ExceptHandler) for x in h.body], True)

    visit(tree.body, False)
    out["bindings"], out["defined"] = tracked_bindings(tree, s)
    return out


# How code binds a name in the module's namespace: to a value, perhaps
# (from x import *, exec, globals().update(d)), not at all any more (del,
# the end of an except ... as block), or to a module (import x as NAME),
# which the block cannot update.
BIND, MAYBE, UNBIND, MODULE = "bind", "may", "del", "module"

# Calls that end the import of the module: a path through them never
# reaches the block.
EXITS = {"sys.exit", "exit", "quit", "os._exit", "os.abort"}

NAMESPACE_CALLS = {"globals"}  # anywhere; vars() and locals() at module level only
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
TRY = (ast.Try,) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())
MATCH = getattr(ast, "Match", ())
COMPOUND = {ast.If: "if statement", ast.For: "for loop", ast.AsyncFor: "for loop", ast.While: "while loop",
            ast.With: "with statement", ast.AsyncWith: "with statement"}
COMPOUND.update({t: "try statement" for t in TRY})
if MATCH:
    COMPOUND[MATCH] = "match statement"


def children(node):
    """ast.iter_child_nodes, which _ast does not have."""
    for f in node._fields:
        v = getattr(node, f, None)
        if isinstance(v, ast.AST):
            yield v
        elif isinstance(v, list):
            for x in v:
                if isinstance(x, ast.AST):
                    yield x


def what(st):
    """What a module-level statement is, for messages: "if statement"."""
    if isinstance(st, FUNCTIONS):
        return "function %s" % st.name
    if isinstance(st, ast.ClassDef):
        return "class %s" % st.name
    if isinstance(st, ast.Delete):
        return "del statement"
    return COMPOUND.get(type(st), "statement")


def sites(node, names):
    """Where node, a statement or expression of module-level code, binds
    (or may bind, or unbinds) names in the module's namespace, as tuples
    (name, line, how, kind, cond, later): cond when that happens on some
    evaluations only (a branch of an and, a comprehension, a case pattern,
    a class body); later names the function whose body does it (global
    NAME), whenever that function is called."""
    out = []

    def add(name, line, how, kind, cond, later):
        if name in names:
            out.append((name, line, how, kind, cond, later))

    def every(line, how, kind, cond, later):
        for n in names:
            add(n, line, how, kind, cond, later)

    def declared_global(body):
        found, todo = set(), list(body)
        while todo:
            x = todo.pop()
            if isinstance(x, ast.Global):
                found.update(x.names)
            elif not isinstance(x, FUNCTIONS + (ast.ClassDef, ast.Lambda)):
                todo.extend(children(x))
        return found

    def namespace(call, module):
        """globals() (or, at module level, vars() or locals())."""
        return (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and not call.args and not call.keywords
                and (call.func.id in NAMESPACE_CALLS or module and call.func.id in ("vars", "locals")))

    def const_key(node):
        if Index is not None and isinstance(node, Index):
            node = node.value
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        return None

    def target(t, how, kind, sc):
        module, glob, cond, later = sc
        if isinstance(t, ast.Name):
            if module or t.id in glob:
                add(t.id, t.lineno, how % t.id, kind, cond, later)
        elif isinstance(t, (ast.Tuple, ast.List)):
            for x in t.elts:
                target(x, how, kind, sc)
        elif isinstance(t, ast.Starred):
            target(t.value, how, kind, sc)
        elif isinstance(t, ast.Subscript) and namespace(t.value, module):
            key = const_key(t.slice)
            if key is None:
                every(t.lineno, "globals()[...] = ...", MAYBE, cond, later)
            elif kind == UNBIND:
                add(key, t.lineno, "del globals()[%r]" % key, UNBIND, cond, later)
            else:
                add(key, t.lineno, "globals()[%r] = ..." % key, kind, cond, later)
            visit(t.slice, sc)
        else:
            visit(t, sc)

    # Iterative: Python accepts expressions nested deeper (1+1+...+1) than
    # a recursive walk could follow.
    todo = []

    def visit(n, sc):
        todo.append((n, sc))

    def walk(n, sc):
        module, glob, cond, later = sc
        if n is None:
            return
        if isinstance(n, list):
            for x in n:
                visit(x, sc)
            return
        if isinstance(n, ast.Assign):
            visit(n.value, sc)
            for t in n.targets:
                target(t, "%s = ...", BIND, sc)
        elif isinstance(n, ast.AugAssign):
            visit(n.value, sc)
            target(n.target, "%s " + OPS.get(type(n.op), "?") + "= ...", BIND, sc)
        elif isinstance(n, ast.AnnAssign):
            visit([n.annotation, n.value], sc)
            if n.value is not None:  # an annotation alone binds nothing
                target(n.target, "%s = ...", BIND, sc)
        elif isinstance(n, ast.Delete):
            for t in n.targets:
                target(t, "del %s", UNBIND, sc)
        elif isinstance(n, ast.NamedExpr):
            visit(n.value, sc)
            target(n.target, "%s := ...", BIND, sc)
        elif isinstance(n, (ast.For, ast.AsyncFor)):
            visit(n.iter, sc)
            target(n.target, "for %s in ...", BIND, sc)
            visit(n.body + n.orelse, sc)
        elif isinstance(n, (ast.With, ast.AsyncWith)):
            for item in n.items:
                visit(item.context_expr, sc)
                if item.optional_vars is not None:
                    target(item.optional_vars, "with ... as %s", BIND, sc)
            visit(n.body, sc)
        elif isinstance(n, ast.ExceptHandler):
            visit(n.type, sc)
            if n.name and (module or n.name in glob):
                # Bound in the handler, and deleted when it ends.
                add(n.name, n.lineno, "except ... as %s" % n.name, UNBIND, cond, later)
            visit(n.body, sc)
        elif isinstance(n, ast.Import):
            for a in n.names:
                bound = a.asname or a.name.split(".")[0]
                if module or bound in glob:
                    how = "import %s as %s" % (a.name, a.asname) if a.asname else "import %s" % a.name
                    add(bound, n.lineno, how, MODULE, cond, later)
        elif isinstance(n, ast.ImportFrom):
            source = "." * n.level + (n.module or "")
            for a in n.names:
                if a.name == "*":
                    every(n.lineno, "from %s import *" % source, MAYBE, cond, later)
                elif module or (a.asname or a.name) in glob:
                    how = "from %s import %s" % (source, a.name) + (" as %s" % a.asname if a.asname else "")
                    add(a.asname or a.name, n.lineno, how, BIND, cond, later)
        elif isinstance(n, FUNCTIONS + (ast.ClassDef,)):
            if module or n.name in glob:
                add(n.name, n.lineno, ("class %s" if isinstance(n, ast.ClassDef) else "def %s") % n.name, BIND, cond, later)
            visit(n.decorator_list, sc)
            if isinstance(n, ast.ClassDef):
                visit(n.bases + [k.value for k in n.keywords], sc)
                # Its body runs now, binding module names it declares global.
                visit(n.body, (False, declared_global(n.body), True, later))
            else:
                visit(n.args.defaults + [d for d in n.args.kw_defaults if d is not None], sc)
                visit(n.body, (False, declared_global(n.body), True, n.name))
        elif isinstance(n, ast.Lambda):
            visit(n.args.defaults + [d for d in n.args.kw_defaults if d is not None], sc)  # its body has a scope of its own
        elif isinstance(n, COMPREHENSIONS):
            # Its targets are its own; := in it binds the enclosing scope,
            # on some evaluations only.
            inner = (module, glob, True, later)
            for i, g in enumerate(n.generators):
                visit(g.iter, sc if i == 0 else inner)
                visit(g.ifs, inner)
            visit([getattr(n, f, None) for f in ("elt", "key", "value")], inner)
        elif isinstance(n, ast.BoolOp):
            visit(n.values[0], sc)
            visit(n.values[1:], (module, glob, True, later))
        elif isinstance(n, ast.IfExp):
            visit(n.test, sc)
            visit([n.body, n.orelse], (module, glob, True, later))
        elif MATCH and isinstance(n, ast.match_case):
            visit(n.pattern, (module, glob, True, later))
            visit(n.guard, (module, glob, True, later))
            visit(n.body, sc)
        elif MATCH and isinstance(n, (ast.MatchAs, ast.MatchStar)):
            if n.name and (module or n.name in glob):
                add(n.name, n.lineno, "a case pattern capturing %s" % n.name, BIND, cond, later)
            visit(getattr(n, "pattern", None), sc)
        elif MATCH and isinstance(n, ast.MatchMapping):
            if n.rest and (module or n.rest in glob):
                add(n.rest, n.lineno, "a case pattern capturing %s" % n.rest, BIND, cond, later)
            visit(n.keys + n.patterns, sc)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and namespace(n.func.value, module):
            visit(n.args + [k.value for k in n.keywords], sc)
            if n.func.attr == "update":
                for k in n.keywords:
                    if k.arg is None:
                        every(n.lineno, "globals().update(...)", MAYBE, cond, later)
                    else:
                        add(k.arg, n.lineno, "globals().update(...)", BIND, cond, later)
                for a in n.args:
                    keys = [const_key(k) if k is not None else None for k in a.keys] if isinstance(a, ast.Dict) else [None]
                    if None in keys:
                        every(n.lineno, "globals().update(...)", MAYBE, cond, later)
                    for k in keys:
                        if k is not None:
                            add(k, n.lineno, "globals().update(...)", BIND, cond, later)
            elif n.func.attr in ("setdefault", "__setitem__") and n.args:
                key = const_key(n.args[0])
                kind = MAYBE if n.func.attr == "setdefault" else BIND
                if key is None:
                    every(n.lineno, "globals().%s(...)" % n.func.attr, MAYBE, cond, later)
                else:
                    add(key, n.lineno, "globals().%s(...)" % n.func.attr, kind, cond, later)
            elif n.func.attr in ("pop", "__delitem__", "clear"):
                key = const_key(n.args[0]) if n.args else None
                if key is None:
                    every(n.lineno, "globals().%s(...)" % n.func.attr, UNBIND, True, later)
                else:
                    add(key, n.lineno, "globals().%s(...)" % n.func.attr, UNBIND, cond, later)
        elif isinstance(n, ast.Call) and module and isinstance(n.func, ast.Name) and n.func.id == "exec":
            visit(n.args + [k.value for k in n.keywords], sc)
            every(n.lineno, "exec(...)", MAYBE, cond, later)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            target(n, "%s = ...", BIND, sc)  # type NAME = ... (Python 3.12)
        elif isinstance(n, ast.AST):
            for child in children(n):
                visit(child, sc)

    visit(node, (True, frozenset(), False, None))
    while todo:
        walk(*todo.pop())
    out.sort(key=lambda site: site[1])  # in file order
    return out


OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^",
       ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>",
       ast.MatMult: "@"}

END = 2  # a path that ends the import: it never reaches the block


def meet(*states):
    """Bound after paths that join: on every one that goes on."""
    going = [x for x in states if x != END]
    if not going:
        return END
    return all(going)


class Flow:
    """Whether name is bound on every path through module-level code."""

    def __init__(self, name):
        self.name = name

    def effect(self, node, state):
        """state after node, a simple statement or an expression."""
        for _, _, _, kind, cond, later in sites(node, (self.name,)):
            if not cond and later is None:
                state = kind != UNBIND
        return state

    def unbinds(self, stmts):
        return any(kind == UNBIND for st in stmts for _, _, _, kind, _, _ in sites(st, (self.name,)))

    def block(self, stmts, state):
        for st in stmts:
            if state == END:
                break
            state = self.step(st, state)
        return state

    def step(self, st, state):
        if isinstance(st, ast.If):
            state = self.effect(st.test, state)
            return meet(self.block(st.body, state), self.block(st.orelse, state))
        if isinstance(st, (ast.For, ast.AsyncFor, ast.While)):
            if isinstance(st, ast.While):
                entry = inside = self.effect(st.test, state)
            else:
                entry = self.effect(st.iter, state)
                inside = self.effect(st.target, entry)
            # The body runs any number of times, and a break or continue
            # leaves it anywhere: nothing it binds is sure afterwards.
            least = False if self.unbinds(st.body) else entry
            out = self.block(st.orelse, meet(least, self.block(st.body, inside)))
            if any(isinstance(x, ast.Break) for x in loop_own(st.body)):
                out = meet(out, least)
            return out
        if isinstance(st, (ast.With, ast.AsyncWith)):
            for item in st.items:
                state = self.effect(item.context_expr, state)
                if item.optional_vars is not None:
                    state = self.effect(item.optional_vars, state)
            return self.block(st.body, state)
        if isinstance(st, TRY):
            # A handler may start before anything in the body ran.
            least = False if self.unbinds(st.body) else state
            outs = [self.block(st.orelse, self.block(st.body, state))]
            for h in st.handlers:
                hs = self.effect(h.type, least) if h.type is not None else least
                if h.name == self.name:
                    hs = True
                hs = self.block(h.body, hs)
                if h.name == self.name and hs != END:
                    hs = False  # Python deletes it when the handler ends
                outs.append(hs)
            return self.block(st.finalbody, meet(*outs))
        if MATCH and isinstance(st, MATCH):
            state = self.effect(st.subject, state)
            outs, total = [], False
            for case in st.cases:
                cs = True if sites(case.pattern, (self.name,)) else state
                if case.guard is not None:
                    cs = self.effect(case.guard, cs)
                outs.append(self.block(case.body, cs))
                total = total or case.guard is None and irrefutable(case.pattern)
            if not total:
                outs.append(state)  # no case matched
            return meet(*outs)
        if isinstance(st, (ast.Raise, ast.Break, ast.Continue, ast.Return)) or exits(st):
            return END
        return self.effect(st, state)


def loop_own(stmts):
    """The statements of a loop's body, not those of loops or functions
    inside it."""
    todo = list(stmts)
    while todo:
        x = todo.pop()
        yield x
        if not isinstance(x, (ast.For, ast.AsyncFor, ast.While, ast.ClassDef, ast.Lambda) + FUNCTIONS):
            todo.extend(c for c in children(x) if isinstance(c, (ast.stmt, ast.excepthandler)) or MATCH and isinstance(c, ast.match_case))


def irrefutable(p):
    if isinstance(p, ast.MatchAs):
        return p.pattern is None or irrefutable(p.pattern)
    if isinstance(p, ast.MatchOr):
        return any(irrefutable(x) for x in p.patterns)
    return False


def exits(st):
    return isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) and dotted(st.value.func) in EXITS


def tracked_bindings(tree, s):
    """For DATABASES and REPORTING_DATABASES: every place the module binds
    (or may bind, or unbinds) the name, with the module-level statement it
    is part of; and, after each module-level statement that changes it or
    ends the import, whether the name is bound on every path so far."""
    bindings = {n: [] for n in TRACKED}
    defined = {n: [] for n in TRACKED}
    state = dict.fromkeys(TRACKED, False)
    flows = {n: Flow(n) for n in TRACKED}
    for st in tree.body:
        ends = isinstance(st, ast.Raise) or exits(st)
        # The names occur in the statement's text, or it imports, or it
        # reaches the namespace: only then can it bind them.
        a, b = s.span(st)
        text = s.src[a:b]
        if not ends and not any(w in text for w in (b"DATABASES", b"import", b"globals", b"vars", b"locals", b"exec")):
            continue
        here = set()
        # Where in the statement: "" when it is a simple one.
        inside = what(st) if type(st) in COMPOUND or isinstance(st, FUNCTIONS + (ast.ClassDef,)) else ""
        for name, line, how, kind, cond, later in sites(st, TRACKED):
            bindings[name].append({"stmt": [st.lineno, st.end_lineno], "line": line, "how": how, "kind": kind,
                                   "in": inside, "later": later or ""})
            if later is None:
                here.add(name)
        for n in TRACKED:
            if n in here or ends:
                state[n] = flows[n].step(st, state[n]) if state[n] != END else END
                defined[n].append({"stmt": [st.lineno, st.end_lineno], "defined": state[n] is not False,
                                   "what": what(st)})
    return bindings, defined


def check(src, name):
    try:
        compile(src, name, "exec", dont_inherit=True)
    except Exception as e:
        return {"error": problem(e)}
    return {}


def to_json(v):
    """JSON of what analyze returns: dicts, lists, strings, numbers,
    booleans and None (literal() lets nothing else through)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return json_string(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, dict):
        return "{" + ",".join(json_string(str(k)) + ":" + to_json(x) for k, x in v.items()) + "}"
    return "[" + ",".join(to_json(x) for x in v) + "]"


def serve():
    inp, outp = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = inp.readline()
        if not header:
            # Every answer is flushed and nothing else is held: skip the
            # interpreter's teardown, which citusgen would wait for.
            import os

            os._exit(0)
        op, nlen, dlen = header.split()
        name = inp.read(int(nlen)).decode("utf-8", "replace")
        data = inp.read(int(dlen))
        try:
            if op == b"analyze":
                res = analyze(data, name)
            elif op == b"compile":
                res = check(data, name)
            else:
                res = {"fatal": "unknown request %r" % op}
        except Exception as e:  # a defect of this script: report it, keep serving
            res = {"fatal": "%s: %s" % (type(e).__name__, e)}
        body = to_json(res).encode("ascii")
        outp.write(b"%d\n" % len(body))
        outp.write(body)
        outp.flush()


serve()
