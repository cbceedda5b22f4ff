# Reads a Django settings file with Python's own parser and prints, as JSON,
# what citusgen needs to know about it: where module-level names are bound,
# and which DATABASES aliases, REPORTING_DATABASES entries and top-level
# assignments it writes, each with its line range and its value when that is
# a literal. Nothing in the file is executed.
import ast
import json
import sys

src = sys.stdin.read()
out = {"bindings": {}, "star_imports": [], "databases": [], "reporting": [], "assigns": []}
try:
    tree = ast.parse(src, filename=sys.argv[1] if len(sys.argv) > 1 else "settings")
except SyntaxError as e:
    out["syntax_error"] = "line %s: %s" % (e.lineno, e.msg)
    json.dump(out, sys.stdout)
    sys.exit(0)

TRACKED = {"DATABASES": "databases", "REPORTING_DATABASES": "reporting"}


def value_of(node):
    try:
        return {"literal": True, "value": ast.literal_eval(node)}
    except Exception:
        return {"literal": False, "source": ast.get_source_segment(src, node) or ""}


def env_ref(node):
    # os.environ['X'], os.environ.get('X'[, default]), os.getenv('X'[, default])
    if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value
    if isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.environ.get", "os.getenv") and node.args:
        if isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            return node.args[0].value
    return None


def describe(node):
    d = value_of(node)
    if isinstance(node, ast.Dict):
        # Per key, for aliases whose dict is partly literal (a password from
        # the environment).
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
    keys = [k for k in dnode.keys]
    spans = []
    for k, v in zip(dnode.keys, dnode.values):
        start = (k or v).lineno
        spans.append((start, v.end_lineno))
    for i, (k, v) in enumerate(zip(dnode.keys, dnode.values)):
        if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
            continue
        s, e = spans[i]
        shared = s == dnode.lineno or e == dnode.end_lineno or any(
            j != i and not (spans[j][1] < s or spans[j][0] > e) for j in range(len(spans)))
        entry = {"key": k.value, "via": via, "stmt": [stmt.lineno, stmt.end_lineno],
                 "entry": [s, e], "shared": shared, "nested": nested,
                 "siblings": [kk.value for kk in keys if isinstance(kk, ast.Constant) and kk is not k]}
        entry.update(describe(v))
        out[kind].append(entry)


def visit(stmts, nested):
    for st in stmts:
        if not nested:
            names = []
            if isinstance(st, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = st.targets if isinstance(st, ast.Assign) else [st.target]
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            names.append(n.id)
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
                a = {"name": name, "stmt": [st.lineno, st.end_lineno], "nested": nested}
                a.update(value_of(st.value))
                out["assigns"].append(a)
        # NAME['key'] = value
        if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Subscript):
            t = st.targets[0]
            if isinstance(t.value, ast.Name) and t.value.id in TRACKED and isinstance(t.slice, ast.Constant):
                e = {"key": t.slice.value, "via": "subscript", "stmt": [st.lineno, st.end_lineno],
                     "entry": [st.lineno, st.end_lineno], "shared": False, "nested": nested, "siblings": []}
                e.update(describe(st.value))
                out[TRACKED[t.value.id]].append(e)
        # NAME.update({...})
        if isinstance(st, ast.Expr) and isinstance(st.value, ast.Call):
            c = st.value
            f = c.func
            if (isinstance(f, ast.Attribute) and f.attr == "update" and isinstance(f.value, ast.Name)
                    and f.value.id in TRACKED and len(c.args) == 1 and isinstance(c.args[0], ast.Dict) and not c.keywords):
                dict_entries(TRACKED[f.value.id], st, "update", c.args[0], nested)
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(st, field, None)
            if isinstance(inner, list) and not isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit([s for s in inner if isinstance(s, ast.stmt)] +
                      [s for h in inner if isinstance(h, ast.ExceptHandler) for s in h.body], True)


visit(tree.body, False)
json.dump(out, sys.stdout)
