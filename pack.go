package main

import (
	"archive/zip"
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"
)

// zipEpoch is the modification time of every entry: a fixed time makes the zip
// byte-for-byte reproducible from the same inputs.
var zipEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// runPackage writes the Flex Consumption deployment zip: host.json, the Linux binary
// as "apiguard" with mode 0755, and one folder per function with its function.json.
func runPackage(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("package", flag.ContinueOnError)
	fl.SetOutput(stderr)
	bin := fl.String("binary", "", "the linux/amd64 apiguard binary to ship")
	out := fl.String("out", "dist/apiguard.zip", "zip to write")
	dir := fl.String("dir", "", "also unpack the zip into this folder (emptied first): the tree azd zips for `azd up`")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *bin == "" {
		fmt.Fprintln(stderr, "apiguard package: --binary is required")
		return 2
	}
	binary, err := os.ReadFile(*bin)
	if err != nil {
		fmt.Fprintln(stderr, "apiguard package:", err)
		return 1
	}
	var buf bytes.Buffer
	if err := writeZip(&buf, app, binary); err != nil {
		fmt.Fprintln(stderr, "apiguard package:", err)
		return 1
	}
	if err := os.MkdirAll(path.Dir(*out), 0o755); err != nil {
		fmt.Fprintln(stderr, "apiguard package:", err)
		return 1
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintln(stderr, "apiguard package:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", *out, buf.Len())
	if *dir != "" {
		if err := unpack(buf.Bytes(), *dir); err != nil {
			fmt.Fprintln(stderr, "apiguard package:", err)
			return 1
		}
		fmt.Fprintf(stdout, "unpacked into %s\n", *dir)
	}
	return 0
}

// unpack writes the zip's entries under dir with their modes, after emptying dir, so
// the folder azd deploys holds exactly what the zip holds and nothing left from an
// older build.
func unpack(zipped []byte, dir string) error {
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for _, f := range zr.File {
		if !fs.ValidPath(f.Name) {
			return fmt.Errorf("unpack: entry %q leaves the folder", f.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, raw, f.Mode().Perm()); err != nil {
			return err
		}
		if err := os.Chmod(dst, f.Mode().Perm()); err != nil { // WriteFile's mode is masked by umask
			return err
		}
	}
	return nil
}

// writeZip lays out the app root from appFS (host.json and functions/*/function.json)
// plus the binary, in sorted order with fixed times. It ships nothing else: never
// local.settings.json.
func writeZip(w io.Writer, appFS fs.FS, binary []byte) error {
	files := map[string][]byte{}
	raw, err := fs.ReadFile(appFS, "host.json")
	if err != nil {
		return err
	}
	files["host.json"] = raw
	fjs, err := fs.Glob(appFS, "functions/*/function.json")
	if err != nil {
		return err
	}
	if len(fjs) == 0 {
		return fmt.Errorf("no functions/*/function.json to package")
	}
	for _, f := range fjs {
		raw, err := fs.ReadFile(appFS, f)
		if err != nil {
			return err
		}
		files[f[len("functions/"):]] = raw
	}
	names := make([]string, 0, len(files)+1)
	for n := range files {
		names = append(names, n)
	}
	names = append(names, "apiguard")
	files["apiguard"] = binary
	sort.Strings(names)

	zw := zip.NewWriter(w)
	for _, n := range names {
		h := &zip.FileHeader{Name: n, Method: zip.Deflate, Modified: zipEpoch}
		h.SetMode(0o644)
		if n == "apiguard" {
			h.SetMode(0o755) // the exec bit must survive, or the host cannot start the handler
		}
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := fw.Write(files[n]); err != nil {
			return err
		}
	}
	return zw.Close()
}
