"""Which AWS operations each Lambda function's code can reach, found by reading the source.

`tests/test_iam_policy.py` compares the result with each function's IAM role. The analysis:

- The entry points come from app.py: every `app.lambda_function(name=N)(handler)` is a function
  of its own whose code starts at `handler`; the API function starts at every function of the
  other `chalicelib/api` modules (routes, middleware, their helpers).
- From there it follows calls and references (functions, classes, methods, properties such as
  `Services.runner_ports`, and everything inside a lambda or nested function it meets), resolving
  receivers with the annotations mypy --strict already demands: parameters, dataclass fields,
  `self.x = param` in `__init__`, return types, `cast(T, ...)`, `Callable[..., T]`.
- A method called on a boto3 client or resource (`mypy_boto3_<service>` annotations, or a value
  returned by a function that builds `session.client("<service>")`) is an operation of that
  service; botocore's service model turns `get_item` into `GetItem`. A method whose receiver's
  type is unknown (`Any`) counts as an operation when its name is one, in exactly one of the
  services the code builds clients for; a name several of them share is reported as ambiguous.

It over-approximates (every branch is taken) but does not guess: a call it cannot place is
either an operation by name or not followed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name
from botocore.model import OperationModel, Shape, StructureShape

ROOT = Path(__file__).resolve().parent.parent
BOTO_STUBS = "mypy_boto3_"

# Types: ("cls", qualname) an instance; ("classref", qualname) the class itself; ("mod", name);
# ("boto", service); ("func", qualname) a function or method; ("callable", T) returns T.
Type = tuple[str, object]


@dataclass(frozen=True)
class Call:
    """One AWS operation called somewhere: botocore service name, operation, keyword names."""

    service: str
    operation: str
    keywords: frozenset[str]
    where: str


@dataclass
class ClassInfo:
    qualname: str
    module: str
    node: ast.ClassDef
    bases: list[str] = field(default_factory=list)
    attributes: dict[str, ast.expr] = field(default_factory=dict)  # name -> annotation
    assigned: dict[str, list[tuple[ast.expr, str]]] = field(default_factory=dict)  # self.x = expr, in function


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    imports: dict[str, str] = field(default_factory=dict)  # local name -> qualified target
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class Program:
    """chalicelib and app.py, indexed for the reachability walk."""

    def __init__(self) -> None:
        self.modules: dict[str, Module] = {}
        self.classes: dict[str, ClassInfo] = {}
        self.functions: dict[str, tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, str | None]] = {}
        paths = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
        for path in paths:
            module = Module(_module_name(path), path, ast.parse(path.read_text(), str(path)))
            self.modules[module.name] = module
            self._index(module)
        self.services = self._client_services()
        self._env_cache: dict[str, dict[str, Type]] = {}
        self._typing_fields: set[tuple[str, str]] = set()

    def _index(self, module: Module) -> None:
        for node in module.tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    module.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    module.imports[alias.asname or alias.name.split(".")[0]] = alias.name
            elif isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports
                for inner in node.body:
                    if isinstance(inner, ast.ImportFrom) and inner.module:
                        for alias in inner.names:
                            module.imports[alias.asname or alias.name] = f"{inner.module}.{alias.name}"
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                module.functions[node.name] = node
                self.functions[f"{module.name}.{node.name}"] = (module.name, node, None)
            elif isinstance(node, ast.ClassDef):
                qualname = f"{module.name}.{node.name}"
                info = ClassInfo(qualname, module.name, node)
                self.classes[qualname] = info
                for item in node.body:
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        info.attributes[item.target.id] = item.annotation
                    elif isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        self.functions[f"{qualname}.{item.name}"] = (module.name, item, qualname)
                        for statement in ast.walk(item):
                            targets: list[ast.expr] = []
                            value: ast.expr | None = None
                            if isinstance(statement, ast.Assign):
                                targets, value = statement.targets, statement.value
                            elif isinstance(statement, ast.AnnAssign):
                                targets, value = [statement.target], statement.value
                                if _is_self_attribute(statement.target):
                                    assert isinstance(statement.target, ast.Attribute)
                                    info.attributes[statement.target.attr] = statement.annotation
                            for target in targets:
                                if _is_self_attribute(target) and value is not None:
                                    assert isinstance(target, ast.Attribute)
                                    info.assigned.setdefault(target.attr, []).append((value, f"{qualname}.{item.name}"))
        for info in self.classes.values():
            if info.module == module.name:
                info.bases = [b for b in (self._resolve_name(module, _dotted(base)) for base in info.node.bases) if b]

    def _client_services(self) -> set[str]:
        """The botocore services the code builds clients or resources for (`.client("s3")`,
        botocore's `.create_client("s3")`)."""
        found = set()
        for module in self.modules.values():
            found |= _service_literals(module.tree)
        return found

    # -- name resolution ------------------------------------------------------------------------

    def _resolve_name(self, module: Module, name: str | None) -> str | None:
        if not name:
            return None
        head, _, rest = name.partition(".")
        if head in module.functions or f"{module.name}.{head}" in self.classes:
            target = f"{module.name}.{head}"
        elif head in module.imports:
            target = module.imports[head]
        else:
            return None
        return f"{target}.{rest}" if rest else target

    def type_of_target(self, qualified: str) -> Type | None:
        """What a qualified name refers to, when it is ours or a boto3 stub."""
        if qualified in self.classes:
            return ("classref", qualified)
        if qualified in self.functions:
            return ("func", qualified)
        if qualified in self.modules:
            return ("mod", qualified)
        if qualified.startswith(BOTO_STUBS):
            return ("boto", qualified[len(BOTO_STUBS) :].split(".")[0])
        return None

    def annotation(self, module: Module, node: ast.expr | None) -> Type | None:
        """The type an annotation names (None when it names nothing we follow)."""
        if node is None:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self.annotation(module, ast.parse(node.value, mode="eval").body)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # X | None
            return self.annotation(module, node.left) or self.annotation(module, node.right)
        if isinstance(node, ast.Subscript):
            base = _dotted(node.value) or ""
            if base.split(".")[-1] == "Optional":
                return self.annotation(module, node.slice)
            if base.split(".")[-1] == "Callable" and isinstance(node.slice, ast.Tuple) and len(node.slice.elts) == 2:
                returned = self.annotation(module, node.slice.elts[1])
                return ("callable", returned) if returned else None
            return None
        qualified = self._resolve_name(module, _dotted(node))
        if qualified is None:
            return None
        found = self.type_of_target(qualified)
        if found and found[0] == "classref":
            return ("cls", found[1])
        return found if found and found[0] == "boto" else None

    def returns(self, qualname: str) -> Type | None:
        """What calling a function or method gives."""
        module_name, node, _ = self.functions[qualname]
        declared = self.annotation(self.modules[module_name], node.returns)
        if declared is not None:
            return declared
        services = _service_literals(node)  # a client factory typed `Any`
        return ("boto", next(iter(services))) if len(services) == 1 else None

    def lookup(self, class_name: str, attr: str) -> tuple[str, str] | None:
        """(kind, qualname or class) of `attr` on instances of `class_name`, searching its bases."""
        seen = [class_name]
        while seen:
            name = seen.pop(0)
            info = self.classes.get(name)
            if info is None:
                continue
            if f"{name}.{attr}" in self.functions:
                return ("method", f"{name}.{attr}")
            if attr in info.attributes or attr in info.assigned:
                return ("field", name)
            seen.extend(info.bases)
        return None

    def field_type(self, class_name: str, attr: str, walker: Walker) -> Type | None:
        info = self.classes[class_name]
        module = self.modules[info.module]
        if (class_name, attr) in self._typing_fields:
            return None
        self._typing_fields.add((class_name, attr))
        try:
            return self._field_type(info, module, attr, walker)
        finally:
            self._typing_fields.discard((class_name, attr))

    def _field_type(self, info: ClassInfo, module: Module, attr: str, walker: Walker) -> Type | None:
        if attr in info.attributes:
            found = self.annotation(module, info.attributes[attr])
            if found:
                return found
        for value, function in info.assigned.get(attr, []):
            found = walker.expression_type(value, module, self._locals(function))
            if found:
                return found
        return None

    def _locals(self, qualname: str) -> dict[str, Type]:
        """A function's parameters and locals with the types their annotations or values give."""
        if qualname in self._env_cache:
            return self._env_cache[qualname]
        module_name, node, owner = self.functions[qualname]
        module = self.modules[module_name]
        env: dict[str, Type] = {}
        arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        for index, argument in enumerate(arguments):
            if index == 0 and owner and argument.arg in ("self", "cls") and not _is_static(node):
                env[argument.arg] = ("cls", owner) if argument.arg == "self" else ("classref", owner)
                continue
            found = self.annotation(module, argument.annotation)
            if found:
                env[argument.arg] = found
        # A cycle (`self.a = self.b.c` in __init__ while typing `b`) sees the parameters only.
        self._env_cache[qualname] = env
        walker = Walker(self)
        for statement in ast.walk(node):
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target = statement.targets[0]
                if isinstance(target, ast.Name) and target.id not in env:
                    found = walker.expression_type(statement.value, module, env)
                    if found:
                        env[target.id] = found
            elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                found = self.annotation(module, statement.annotation)
                if found is None and statement.value is not None:
                    found = walker.expression_type(statement.value, module, env)
                if found:
                    env[statement.target.id] = found
            elif isinstance(statement, ast.withitem) and isinstance(statement.optional_vars, ast.Name):
                found = walker.expression_type(statement.context_expr, module, env)
                if found:
                    env[statement.optional_vars.id] = found
        return env

    def operation(self, service: str, method: str) -> str | None:
        """The botocore operation a client method is named after (`get_item` -> `GetItem`)."""
        return operation_names(service).get(method)


@cache
def operation_names(service: str) -> dict[str, str]:
    """snake_case method -> operation, from botocore's model of `service`."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


# boto3 helpers named after no operation, and the operation they make.
RESOURCE_HELPERS = {("dynamodb", "batch_writer"): "BatchWriteItem"}


class Walker:
    """Follows references from entry points, collecting AWS calls."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.seen: set[str] = set()
        self.calls: set[Call] = set()
        self.ambiguous: set[str] = set()
        self._queue: list[str] = []

    def reach(self, entries: list[str]) -> set[Call]:
        self._queue.extend(entries)
        while self._queue:
            qualname = self._queue.pop()
            if qualname in self.seen:
                continue
            self.seen.add(qualname)
            module_name, node, _ = self.program.functions[qualname]
            env = self.program._locals(qualname)
            for child in ast.walk(node):
                self._visit(child, self.program.modules[module_name], env, qualname)
        return self.calls

    def _enqueue(self, found: Type | None) -> None:
        if found is None:
            return
        if found[0] == "func":
            self._queue.append(str(found[1]))
        elif found[0] == "classref":
            init = self.program.lookup(str(found[1]), "__init__")
            if init and init[0] == "method":
                self._queue.append(init[1])
            post_init = self.program.lookup(str(found[1]), "__post_init__")
            if post_init and post_init[0] == "method":
                self._queue.append(post_init[1])

    def _visit(self, node: ast.AST, module: Module, env: dict[str, Type], where: str) -> None:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in env:
            qualified = self.program._resolve_name(module, node.id)
            if qualified:
                self._enqueue(self.program.type_of_target(qualified))
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            self._attribute(node, module, env, where)

    def _attribute(self, node: ast.Attribute, module: Module, env: dict[str, Type], where: str) -> None:
        receiver = self.expression_type(node.value, module, env)
        if receiver is None or receiver[0] == "boto":
            if receiver is None and node.attr == "client" and _dotted(node.value, last="meta"):
                return  # `table.meta.client` on an untyped table: its calls are judged by name
            self._maybe_operation(node, receiver, where)
            return
        self._enqueue(self.member(receiver, node.attr))
        if receiver[0] == "cls":
            found = self.program.lookup(str(receiver[1]), node.attr)
            if found and found[0] == "method":
                self._queue.append(found[1])

    def _maybe_operation(self, node: ast.Attribute, receiver: Type | None, where: str) -> None:
        call = _parent_call(node)
        if call is None:
            return
        where = f"{where} ({node.attr}, line {node.lineno})"
        keywords = frozenset(k.arg for k in call.keywords if k.arg)
        if receiver is not None:
            service = str(receiver[1])
            operation = self.program.operation(service, node.attr) or RESOURCE_HELPERS.get((service, node.attr))
            if operation:
                self.calls.add(Call(service, operation, keywords, where))
            return
        candidates = {s for s in self.program.services if self.program.operation(s, node.attr)}
        if len(candidates) == 1:
            service = candidates.pop()
            self.calls.add(Call(service, str(self.program.operation(service, node.attr)), keywords, where))
        elif candidates:
            self.ambiguous.add(f"{where}: {node.attr} is an operation of {sorted(candidates)}")

    def member(self, receiver: Type, attr: str) -> Type | None:
        """The type of `receiver.attr`."""
        kind, value = receiver
        if kind == "mod":
            return self.program.type_of_target(f"{value}.{attr}")
        if kind in ("cls", "classref"):
            found = self.program.lookup(str(value), attr)
            if found is None:
                return None
            if found[0] == "method":
                _, node, _ = self.program.functions[found[1]]
                if _is_property(node):
                    self._queue.append(found[1])
                    return self.program.returns(found[1])
                return ("func", found[1])
            return self.program.field_type(found[1], attr, self)
        if kind == "boto" and attr in ("meta",):
            return receiver
        if kind == "boto" and attr == "client":
            return receiver
        return None

    def expression_type(self, node: ast.expr, module: Module, env: dict[str, Type]) -> Type | None:
        """The type of an expression, as far as annotations tell."""
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            qualified = self.program._resolve_name(module, node.id)
            return self.program.type_of_target(qualified) if qualified else None
        if isinstance(node, ast.Attribute):
            receiver = self.expression_type(node.value, module, env)
            return self.member(receiver, node.attr) if receiver else None
        if isinstance(node, ast.Call):
            if _dotted(node.func) in ("cast", "typing.cast") and node.args:
                return self.program.annotation(module, node.args[0])
            callee = self.expression_type(node.func, module, env)
            if callee is None:
                return None
            if callee[0] == "classref":
                return ("cls", callee[1])
            if callee[0] == "func":
                return self.program.returns(str(callee[1]))
            if callee[0] == "callable":
                inner = callee[1]
                return inner if isinstance(inner, tuple) else None
            return None
        if isinstance(node, ast.Lambda):
            returned = self.expression_type(node.body, module, env)
            return ("callable", returned) if returned else None
        return None


def _is_self_attribute(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def _dotted(node: ast.expr, last: str | None = None) -> str | None:
    if last is not None:
        return last if isinstance(node, ast.Attribute) and node.attr == last else None
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _is_property(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(_dotted(d) in ("property", "cached_property", "functools.cached_property") for d in node.decorator_list)


def _is_static(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(_dotted(d) == "staticmethod" for d in node.decorator_list)


def _service_literals(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("client", "resource", "create_client")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


_PARENTS: dict[int, ast.AST] = {}


def _parent_call(node: ast.Attribute) -> ast.Call | None:
    parent = _PARENTS.get(id(node))
    return parent if isinstance(parent, ast.Call) and parent.func is node else None


def _link_parents(tree: ast.AST) -> None:
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            _PARENTS[id(child)] = parent


# -- entry points and IAM actions --------------------------------------------------------------


@cache
def program() -> Program:
    built = Program()
    for module in built.modules.values():
        _link_parents(module.tree)
    return built


def lambda_entry_points() -> dict[str, list[str]]:
    """Logical id (as `chalice package` names it) -> the qualified functions its code starts at."""
    built = program()
    app = built.modules["app"]
    entries: dict[str, list[str]] = {}
    for node in app.tree.body:
        # step_runner = app.lambda_function(name="step_runner")(run_step)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            outer = node.value
            if isinstance(outer.func, ast.Call) and _dotted(outer.func.func) == "app.lambda_function":
                [keyword] = [k for k in outer.func.keywords if k.arg == "name"]
                assert isinstance(keyword.value, ast.Constant)
                logical_id = "".join(part.capitalize() for part in str(keyword.value.value).split("_"))
                [handler] = outer.args
                target = built._resolve_name(app, _dotted(handler))
                assert target in built.functions, target
                entries[logical_id] = [target]
    handler_modules = {built.functions[q][0] for targets in entries.values() for q in targets}
    api = [
        qualname
        for qualname, (module_name, _, _) in built.functions.items()
        if (module_name.startswith("chalicelib.api.") and module_name not in handler_modules) or module_name == "app"
    ]
    entries["APIHandler"] = sorted(api)
    return entries


def calls_by_function() -> dict[str, tuple[set[Call], set[str]]]:
    """Logical id -> (the AWS calls its code can reach, calls that could be several services')."""
    result = {}
    for logical_id, entries in lambda_entry_points().items():
        walker = Walker(program())
        result[logical_id] = (walker.reach(entries), walker.ambiguous)
    return result


def _role_members(shape: Shape, depth: int = 0) -> Iterator[str]:
    """Required members (through required structures) that name an IAM role."""
    if not isinstance(shape, StructureShape) or depth > 4:
        return
    for name in shape.required_members:
        member = shape.members[name]
        if name.lower().endswith("rolearn"):
            yield name
        yield from _role_members(member, depth + 1)


# Where IAM's action differs from the operation's name, or the operation needs more actions.
IAM_ACTIONS = {
    "lambda:Invoke": ["lambda:InvokeFunction"],
    "dynamodb:TransactWriteItems": [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
    ],
    "dynamodb:TransactGetItems": ["dynamodb:GetItem"],
}


def iam_actions(call: Call) -> set[tuple[str, str | None]]:
    """The IAM actions one call needs, as (action, service a passed role goes to)."""
    model = botocore.session.get_session().get_service_model(call.service)
    prefix = model.metadata.get("signingName") or model.endpoint_prefix
    action = f"{prefix}:{call.operation}"
    needed: set[tuple[str, str | None]] = {(a, None) for a in IAM_ACTIONS.get(action, [action])}
    operation: OperationModel = model.operation_model(call.operation)
    # An operation that takes the role the service will act as needs iam:PassRole to that service.
    if operation.input_shape is not None and any(_role_members(operation.input_shape)):
        needed.add(("iam:PassRole", f"{model.endpoint_prefix}.amazonaws.com"))
    # Tags passed on create need the service's TagResource too.
    if operation.input_shape is not None and "TagResource" in model.operation_names:
        members = operation.input_shape.members
        if any(k in members and k.lower() == "tags" for k in call.keywords):
            needed.add((f"{prefix}:TagResource", None))
    return needed
