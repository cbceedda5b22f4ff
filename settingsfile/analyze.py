# citusgen's reader of Django settings files. It runs as one python3 process
# per citusgen run and answers requests on stdin/stdout:
#
#   request:  OP NAMELEN DATALEN\n NAME DATA      (OP: analyze or compile)
#   response: LEN\n JSON
#
# analyze says, with Python's own parser, where module-level names are
# bound, and which DATABASES aliases, REPORTING_DATABASES entries and
# top-level assignments the file writes, each with its lines, its byte span
# in the file and its value when that is a literal. compile says whether
# Python accepts the file. Nothing in a file is ever executed.
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


def names_in(node):
    """The names a target binds (a, (b, c), [d, *e], f.g -> f)."""
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, (ast.Tuple, ast.List)):
        for x in node.elts:
            yield from names_in(x)
    elif isinstance(node, ast.Starred):
        yield from names_in(node.value)
    elif isinstance(node, (ast.Attribute, ast.Subscript)):
        yield from names_in(node.value)


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
    out = {"bindings": {}, "star_imports": [], "databases": [], "reporting": [], "assigns": [], "multiline": []}
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
                names = []
                if isinstance(st, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                    targets = st.targets if isinstance(st, ast.Assign) else [st.target]
                    for t in targets:
                        names.extend(names_in(t))
                elif isinstance(st, (ast.Import, ast.ImportFrom)):
                    for a in st.names:
                        if a.name == "*":
                            out["star_imports"].append(st.lineno)
                        else:
                            names.append((a.asname or a.name).split(".")[0])
                elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.append(st.name)
                for n in names:
                    out["bindings"].setdefault(n, []).append([st.lineno, st.end_lineno])
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
    return out


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
