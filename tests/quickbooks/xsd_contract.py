"""Intuit's XSD read as the JSON shapes the API takes (see the README beside the XSD files).

An element of a complexType is a JSON property of that object (an array when the schema repeats
it), an attribute is a property too (`sparse`, `domain`), `xs:extension base` adds the base's
properties, a simpleContent type (ReferenceType) is `{"value": …, …its attributes}`, and a
simpleType with enumerations allows those values only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

XS = "{http://www.w3.org/2001/XMLSchema}"
NUMBERS = {"decimal", "double", "float"}
INTEGERS = {"int", "integer", "long", "positiveInteger", "nonNegativeInteger", "short"}


@dataclass
class Prop:
    type: str
    repeated: bool


@dataclass
class ComplexType:
    props: dict[str, Prop] = field(default_factory=dict)
    base: str | None = None
    simple_content: str | None = None  # the base of a simpleContent extension: the "value"


def _local(name: str | None) -> str | None:
    return name.split(":")[-1] if name else name


class Schema:
    def __init__(self, folder: Path) -> None:
        self.types: dict[str, ComplexType] = {}
        self.enums: dict[str, set[str]] = {}
        self.simple_bases: dict[str, str] = {}
        self.elements: dict[str, tuple[str, str | None]] = {}  # global element → (type, substitutionGroup)
        for path in sorted(folder.glob("*.xsd")):
            root = ElementTree.parse(path).getroot()
            for node in root:
                if node.tag == f"{XS}complexType":
                    self.types[node.get("name")] = self._complex(node)
                elif node.tag == f"{XS}simpleType":
                    self._simple(node.get("name"), node)
                elif node.tag == f"{XS}element" and node.get("name"):
                    self.elements[node.get("name")] = (_local(node.get("type")) or node.get("name"),
                                                       _local(node.get("substitutionGroup")))
                elif node.tag == f"{XS}group":
                    self.types[f"group:{node.get('name')}"] = self._complex(node)

    def _simple(self, name: str, node) -> None:
        restriction = node.find(f"{XS}restriction")
        if restriction is not None:
            values = {e.get("value") for e in restriction.findall(f"{XS}enumeration")}
            if values:
                self.enums[name] = values
            self.simple_bases[name] = _local(restriction.get("base"))

    def _complex(self, node) -> ComplexType:
        ct = ComplexType()
        self._walk(node, ct)
        return ct

    def _walk(self, node, ct: ComplexType, repeated: bool = False) -> None:
        for child in node:
            tag = child.tag.removeprefix(XS)
            if tag in ("sequence", "choice", "all"):
                self._walk(child, ct, repeated or child.get("maxOccurs") not in (None, "0", "1"))
            elif tag == "element":
                many = repeated or child.get("maxOccurs") not in (None, "0", "1")
                if child.get("ref"):
                    ct.props[_local(child.get("ref"))] = Prop(f"element:{_local(child.get('ref'))}", many)
                    continue
                type_name = _local(child.get("type"))
                inline = child.find(f"{XS}complexType")
                if inline is not None:
                    type_name = f"anon:{id(inline)}"
                    self.types[type_name] = self._complex(inline)
                ct.props[child.get("name")] = Prop(type_name or "string", many)
            elif tag == "attribute":
                ct.props[child.get("name")] = Prop(_local(child.get("type")) or "string", False)
            elif tag == "group":
                group = self.types.get(f"group:{_local(child.get('ref'))}")
                if group is not None:
                    ct.props.update(group.props)
            elif tag == "complexContent":
                self._walk(child, ct, repeated)
            elif tag == "simpleContent":
                ext = child.find(f"{XS}extension")
                if ext is not None:
                    ct.simple_content = _local(ext.get("base"))
                    self._walk(ext, ct, repeated)
            elif tag == "extension":
                ct.base = _local(child.get("base"))
                self._walk(child, ct, repeated)

    def props(self, type_name: str) -> dict[str, Prop]:
        ct = self.types[type_name]
        out = dict(self.props(ct.base)) if ct.base in self.types else {}
        simple = self.simple_content_of(type_name)
        if simple:
            out["value"] = Prop(simple, False)
        out.update(ct.props)
        return out

    def simple_content_of(self, type_name: str) -> str | None:
        ct = self.types.get(type_name)
        while ct is not None:
            if ct.simple_content:
                return ct.simple_content
            ct = self.types.get(ct.base) if ct.base else None
        return None

    def entity_type(self, element: str) -> str | None:
        """The complexType of a global element that can stand for IntuitObject (an entity)."""
        seen = element
        while seen in self.elements:
            type_name, group = self.elements[seen]
            if group == "IntuitObject":
                return self.elements[element][0]
            if group is None:
                return None
            seen = group
        return None

    # --- checking --------------------------------------------------------------------------------

    def violations(self, value: Any, type_name: str, path: str) -> list[str]:
        if type_name.startswith("element:"):
            type_name = self.elements.get(type_name[8:], (type_name[8:], None))[0]
        if type_name in self.types:
            if not isinstance(value, dict):
                return [f"{path}: expected an object ({type_name}), got {type(value).__name__}"]
            props = self.props(type_name)
            found = []
            for key, item in value.items():
                prop = props.get(key)
                if prop is None:
                    found.append(f"{path}.{key}: not a property of {type_name}")
                    continue
                if prop.repeated:
                    if not isinstance(item, list):
                        found.append(f"{path}.{key}: {type_name} repeats it, so it must be a list")
                        continue
                    for i, element in enumerate(item):
                        found += self.violations(element, prop.type, f"{path}.{key}[{i}]")
                elif isinstance(item, list):
                    found.append(f"{path}.{key}: {type_name} does not repeat it, so it must not be a list")
                else:
                    found += self.violations(item, prop.type, f"{path}.{key}")
            return found
        return self._simple_violations(value, type_name, path)

    def _simple_violations(self, value: Any, type_name: str, path: str) -> list[str]:
        if type_name in self.enums and value not in self.enums[type_name]:
            return [f"{path}: {value!r} is not one of {type_name}'s values"]
        base = type_name
        while base in self.simple_bases and base not in NUMBERS | INTEGERS | {"boolean", "string"}:
            base = self.simple_bases[base]
        if base == "boolean" and not isinstance(value, bool):
            return [f"{path}: expected a boolean, got {value!r}"]
        if base in NUMBERS | INTEGERS and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return [f"{path}: expected a number ({base}), got {value!r}"]
        if base in INTEGERS and isinstance(value, float) and not value.is_integer():
            return [f"{path}: expected a whole number ({base}), got {value!r}"]
        if isinstance(value, (dict, list)):
            return [f"{path}: expected a {base} value, got {type(value).__name__}"]
        return []

    def batch_violations(self, body: dict[str, Any]) -> list[str]:
        found = []
        request_props = self.props("BatchItemRequest")
        for i, op in enumerate(body.get("BatchItemRequest") or []):
            path = f"BatchItemRequest[{i}]"
            for key, value in op.items():
                entity_type = self.entity_type(key)
                if entity_type:
                    found += self.violations(value, entity_type, f"{path}.{key}")
                elif key in request_props:
                    found += self.violations(value, request_props[key].type, f"{path}.{key}")
                else:
                    found.append(f"{path}.{key}: neither a BatchItemRequest property nor an entity")
        return found
