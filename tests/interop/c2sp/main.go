// c2sp-check verifies Audit Layer checkpoints, witness cosignatures and inclusion proofs with independent
// implementations of the C2SP formats (golang.org/x/mod/sumdb/note and tlog, github.com/transparency-dev/formats),
// so a test can show that tooling which never heard of Audit Layer accepts what it signs and rejects an edit.
//
// Input (stdin, JSON): {"log_vkey": "...", "cases": [{"name", "origin", "note", "witness_vkeys", "proof",
// "leaf_hash"}]}. Output: one line per case, "<name> ok" or "<name> FAIL <reason>".
package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/transparency-dev/formats/log"
	tnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/formats/proof"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type testCase struct {
	Name         string   `json:"name"`
	Origin       string   `json:"origin"`
	Note         string   `json:"note"`
	WitnessVkeys []string `json:"witness_vkeys"`
	Proof        string   `json:"proof"`
	LeafHash     string   `json:"leaf_hash"`
}

type input struct {
	LogVkey string     `json:"log_vkey"`
	Cases   []testCase `json:"cases"`
}

func check(logVerifier note.Verifier, c testCase) error {
	var witnesses []note.Verifier
	for _, vkey := range c.WitnessVkeys {
		v, err := tnote.NewVerifierForCosignatureV1(vkey)
		if err != nil {
			return fmt.Errorf("witness vkey: %v", err)
		}
		witnesses = append(witnesses, v)
	}
	signed := []byte(c.Note)
	var p proof.TLogProof
	if c.Proof != "" {
		if err := p.Unmarshal([]byte(c.Proof)); err != nil {
			return fmt.Errorf("tlog-proof: %v", err)
		}
		signed = p.Checkpoint
	}
	cp, _, n, err := log.ParseCheckpoint(signed, c.Origin, logVerifier, witnesses...)
	if err != nil {
		return err
	}
	for _, w := range witnesses {
		found := false
		for _, s := range n.Sigs {
			if s.Name == w.Name() && s.Hash == w.KeyHash() {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("no valid cosignature by %s", w.Name())
		}
	}
	if c.Proof != "" {
		leaf, err := hex.DecodeString(c.LeafHash)
		if err != nil || len(leaf) != tlog.HashSize {
			return fmt.Errorf("leaf hash")
		}
		var hashes tlog.RecordProof
		for _, h := range p.Hashes {
			hashes = append(hashes, tlog.Hash(h))
		}
		var root, leafHash tlog.Hash
		copy(root[:], cp.Hash)
		copy(leafHash[:], leaf)
		if err := tlog.CheckRecord(hashes, int64(cp.Size), root, int64(p.Index), leafHash); err != nil {
			return fmt.Errorf("inclusion: %v", err)
		}
	}
	return nil
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "bad input:", err)
		os.Exit(2)
	}
	logVerifier, err := note.NewVerifier(in.LogVkey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad log vkey:", err)
		os.Exit(2)
	}
	for _, c := range in.Cases {
		if err := check(logVerifier, c); err != nil {
			fmt.Printf("%s FAIL %v\n", c.Name, err)
		} else {
			fmt.Printf("%s ok\n", c.Name)
		}
	}
}
