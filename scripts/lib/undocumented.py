"""Lists the public symbols declared in this repository's sources that have no doc comment, from the symbol graphs
that `swift package generate-documentation` extracted (SwiftPM's extracted-symbols folder). Inherited default
implementations (Sequence methods, synthesized operators) are declared elsewhere and not listed. Exit status 1 when
any is missing."""
import glob, json, os, sys

root = os.path.abspath(sys.argv[1])
modules = sys.argv[2:]
missing = []
for module in modules:
    for path in glob.glob(f"{root}/.build/*/extracted-symbols/*/{module}/{module}*.symbols.json"):
        graph = json.load(open(path))
        for symbol in graph.get("symbols", []):
            if symbol.get("accessLevel") not in ("public", "open"):
                continue
            uri = symbol.get("location", {}).get("uri", "")
            if not uri.startswith(f"file://{root}/Sources/"):
                continue
            if symbol.get("docComment"):
                continue
            # Synthesized members (Codable, RawRepresentable, Hashable) have a location but no source of their own.
            names = symbol.get("names", {}).get("title", "")
            if names in ("init(rawValue:)", "rawValue", "hash(into:)", "hashValue", "==(_:_:)", "!=(_:_:)"):
                continue
            line = symbol["location"]["position"]["line"] + 1
            missing.append(f"{uri[len('file://' + root) + 1:]}:{line}: {module}: {'.'.join(symbol['pathComponents'])}")
for entry in sorted(set(missing)):
    print(f"undocumented public symbol: {entry}")
sys.exit(1 if missing else 0)
