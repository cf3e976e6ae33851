# apiguard: make run (everything a newcomer needs locally), make test (the whole suite).
SHELL := bash
GO ?= go
BIN := bin/apiguard
LINUX_BIN := bin/linux-amd64/apiguard
# The deployment zip, and the same files unpacked: the folder azd zips for `azd up`
# (azure.yaml's dist). Both overridable, as the package test does.
PACKAGE ?= dist/apiguard.zip
PACKAGE_DIR ?= dist/app
AZURITE := node_modules/.bin/azurite-table
# npm ci leaves this stamp; the .bin entry is a symlink whose time is the package's.
NODE_STAMP := node_modules/.apiguard-installed
FUZZTIME ?= 5m
# make test fuzzes by execution count: a wall-clock -fuzztime races Go 1.26's fuzz
# coordinator at the deadline (golang/go#75804) and fails spuriously on loaded machines.
FUZZTIME_SHORT ?= 20000x
# Fuzz targets as package:Function[:count for make test, when one execution is slow].
FUZZ_TARGETS := ./shared/alert:FuzzDecode ./shared/envelope:FuzzReadRequest ./shared/schedule:FuzzParse \
  ./shared/cidr:FuzzAggregate ./shared/waf:FuzzParseDocument ./shared/enforce/azure:FuzzParseResourceID ./shared/record:FuzzEscapeKey \
  ./shared/apim/include:FuzzInsertRemove ./shared/apim/fragment:FuzzRender \
  ./shared/enforce/azureapim:FuzzParseServiceID ./shared/enforce/azureapim:FuzzParseScope \
  ./shared/traffic:FuzzDecode ./shared/detect:FuzzUnmarshalState \
  ./shared/notify:FuzzParseTargets ./shared/control:FuzzRequests ./shared/triage:FuzzClassify ./shared/triage/report:FuzzEscape \
  ./shared/triage/collect:FuzzSnapshot:300x ./shared/envelope:FuzzEventHub ./shared/traffic:FuzzReadRecord \
  ./shared/detect/probe:FuzzMatch:2000x ./shared/cidr:FuzzCarriedByPrefix ./handlers:FuzzServeEdge:500x \
  ./shared/alert:FuzzStrictAddress
TRIAGE_DEMO := local/triage-demo
TRIAGE_DEMO_SNAPSHOT := $(TRIAGE_DEMO)/2026-12/apiguard/last-seen.json
AZURITE_KEY := Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==

.PHONY: build run test unit fuzz-short fuzz bench lint package deploy clean console-shots triage-shots triage-demo

build:
	$(GO) build -o $(BIN) .

# Azurite (Table Storage emulator) from npm, pinned in package.json / package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# run: Azurite on a free loopback port, its tables kept in local/azurite so a restart keeps
# the desired blocks (and the local policy files keep their owned rules), then apiguard
# serve on 127.0.0.1:7071. Settings: local.settings.json when present, else the sample.
# `rm -rf local` starts afresh.
run: build $(NODE_STAMP) $(TRIAGE_DEMO_SNAPSHOT)
	@set -euo pipefail; \
	port=$$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'); \
	mkdir -p local/azurite; \
	$(AZURITE) --tableHost 127.0.0.1 --tablePort $$port --location local/azurite --disableTelemetry --silent & azpid=$$!; \
	trap 'kill $$azpid 2>/dev/null; wait $$azpid 2>/dev/null' EXIT; \
	for i in $$(seq 200); do (echo > /dev/tcp/127.0.0.1/$$port) 2>/dev/null && break; sleep 0.1; done; \
	echo "Azurite Table Storage on 127.0.0.1:$$port (kept in local/azurite)"; \
	export APIGUARD_TABLES_CONNECTION="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$(AZURITE_KEY);TableEndpoint=http://127.0.0.1:$$port/devstoreaccount1;"; \
	echo "apiguard serve: try  curl -i -X POST --data @docs/examples/alert-arm.json http://127.0.0.1:7071/api/alerts"; \
	echo "                and  bin/apiguard triage run; bin/apiguard triage show latest   (the triage of the test estate's snapshot)"; \
	export APIGUARD_TRIAGE_SNAPSHOT=$(TRIAGE_DEMO)/2026-12; \
	$(BIN) serve

# test: lint, every test (the Azurite harness starts and stops its own emulator per
# test binary), the packaged layout, and each fuzz target briefly.
test: $(NODE_STAMP) lint unit fuzz-short

# Tests that read third-party data take it from ../shared/fixtures and skip without it.
unit:
	@[ -d ../shared/fixtures ] || echo "notice: ../shared/fixtures is absent: the tests on real third-party data skip (see README, Tests)"
	$(GO) test -count=1 ./...

fuzz-short:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; n=$(FUZZTIME_SHORT); \
	  [ "$$rest" = "$$fn" ] || n=$${rest#*:}; \
	  echo "fuzz $$pkg $$fn for $$n"; \
	  $(GO) test $$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $$n; \
	done

# fuzz: the same targets for longer (FUZZTIME=30m make fuzz). A bare "context deadline
# exceeded" at the end with no failing input written is the coordinator race above, not
# a finding; anything else fails.
fuzz:
	@set -eo pipefail; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; log=$$(mktemp); \
	  if $(GO) test $$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) 2>&1 | tee $$log; then rm -f $$log; continue; fi; \
	  if grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input written' $$log; then \
	    echo "fuzz $$fn: deadline race at the end of -fuzztime (golang/go#75804), no finding"; rm -f $$log; continue; fi; \
	  rm -f $$log; exit 1; \
	done

bench: $(NODE_STAMP)
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@out=$$(find . -name '*.go' -not -path './node_modules/*' -print0 | xargs -0 gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# package: the Flex Consumption zip (host.json, the linux/amd64 binary with mode 0755,
# one folder per function), written deterministically with archive/zip.
package: build
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags=-buildid= -o $(LINUX_BIN) .
	$(BIN) package --binary $(LINUX_BIN) --out $(PACKAGE) --dir $(PACKAGE_DIR)

# deploy: provision and deploy to Azure with azd (azure.yaml), from an azd environment
# made first (docs/operations.md: azd env new, azd env set AZURE_RESOURCE_GROUP ...).
# Talks to Azure: no other target depends on it, and make test never runs it.
deploy:
	@command -v azd >/dev/null || { echo "make deploy needs the Azure Developer CLI (azd): https://aka.ms/azd-install"; exit 1; }
	azd up

clean:
	rm -rf bin dist

# console-shots: rewrite the operator page's samples (docs/console/*.html) from the
# template and screenshot them with Debian's chromium; pngquant keeps the committed
# PNGs small. Both are installed when missing. Fails when chromium writes no
# screenshot (it can exit 0 without one).
CHROMIUM ?= chromium
CHROMIUM_FLAGS := --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --hide-scrollbars
console-shots:
	@command -v $(CHROMIUM) >/dev/null && command -v pngquant >/dev/null || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium pngquant; }
	$(GO) test -count=1 ./shared/control -run '^TestConsoleSamples$$' -update-console
	@set -euo pipefail; profile=$$(mktemp -d); trap 'rm -rf $$profile' EXIT; \
	shoot() { rm -f docs/console/$$2; \
	  $(CHROMIUM) $(CHROMIUM_FLAGS) --user-data-dir=$$profile --window-size=$$3 --screenshot=docs/console/$$2 \
	    file://$(CURDIR)/docs/console/$$1 >$$profile/log 2>&1 || true; \
	  [ -s docs/console/$$2 ] || { cat $$profile/log; echo "console-shots: chromium wrote no docs/console/$$2"; exit 1; }; \
	  pngquant --force --skip-if-larger --strip --output docs/console/$$2 docs/console/$$2 || [ $$? -eq 98 ]; \
	  echo "docs/console/$$2 from $$1 at $$3"; }; \
	shoot sample.html console.png 1280,2060; \
	shoot sample.html console-phone.png 390,1800; \
	shoot quiet.html console-quiet.png 1280,900

# triage-shots: rewrite the monthly triage report's samples (docs/triage-report/sample.*)
# from shared/triage/report/testdata/sample.json, and screenshot the page with the
# chromium and pngquant of console-shots (installed when missing). Fails when chromium
# writes no screenshot.
TRIAGE_SHOT := docs/triage-report/report.png
triage-shots:
	@command -v $(CHROMIUM) >/dev/null && command -v pngquant >/dev/null || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium pngquant; }
	$(GO) test -count=1 ./shared/triage/report -run '^TestSamples$$' -update
	@set -euo pipefail; profile=$$(mktemp -d); trap 'rm -rf $$profile' EXIT; rm -f $(TRIAGE_SHOT); \
	$(CHROMIUM) $(CHROMIUM_FLAGS) --user-data-dir=$$profile --window-size=1280,2600 --screenshot=$(TRIAGE_SHOT) \
	  file://$(CURDIR)/docs/triage-report/sample.html >$$profile/log 2>&1 || true; \
	[ -s $(TRIAGE_SHOT) ] || { cat $$profile/log; echo "triage-shots: chromium wrote no $(TRIAGE_SHOT)"; exit 1; }; \
	pngquant --force --skip-if-larger --strip --output $(TRIAGE_SHOT) $(TRIAGE_SHOT) || [ $$? -eq 98 ]; \
	echo "$(TRIAGE_SHOT) from docs/triage-report/sample.html at 1280x2600"

# triage-demo: the monthly triage without Azure. Writes the test scenario's two months
# as snapshot folders (ARM answered by the SDK fakes) under local/triage-demo, then ranks
# them with the binary: December alone, January against December's report. make run
# serves December's snapshot as the triage's inventory (APIGUARD_TRIAGE_SNAPSHOT).
$(TRIAGE_DEMO_SNAPSHOT):
	rm -rf $(TRIAGE_DEMO) && mkdir -p $(TRIAGE_DEMO) && $(GO) run ./shared/triage/triagetest/demo $(TRIAGE_DEMO)

triage-demo: build $(TRIAGE_DEMO_SNAPSHOT)
	@set -euo pipefail; \
	export APIGUARD_TRIAGE_SENSITIVE_TAGS=pii,payment,health; \
	$(BIN) triage --snapshot $(TRIAGE_DEMO)/2026-12 --out $(TRIAGE_DEMO)/2026-12.json; \
	for f in md html; do $(BIN) triage --snapshot $(TRIAGE_DEMO)/2027-01 --previous $(TRIAGE_DEMO)/2026-12.json --format $$f --out $(TRIAGE_DEMO)/2027-01.$$f; done; \
	echo "triage-demo: open $(TRIAGE_DEMO)/2027-01.html (January against December); $(TRIAGE_DEMO)/2027-01.md is the Teams/mail summary"
