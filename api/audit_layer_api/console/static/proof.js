// Checks the decision's inclusion proof in the browser, with WebCrypto (SHA-256, Ed25519), against the
// operator's published checkpoint keys: the same steps as ledger/audit_layer_ledger/offline_proof.py.
// It also decodes the hashed link bytes and holds the fields this page shows against them.
"use strict";

const enc = new TextEncoder();

function hex(text, what, size) {
  if (typeof text !== "string" || !/^([0-9a-f]{2})*$/.test(text)) throw new Error(what + " is not hex");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  if (size !== undefined && out.length !== size) throw new Error(what + " must be " + size + " bytes");
  return out;
}
const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
const b64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

// Avro binary, just what the pinned link schema uses
class Reader {
  constructor(bytes) { this.bytes = bytes; this.pos = 0; }
  take(n) {
    if (n < 0 || this.pos + n > this.bytes.length) throw new Error("the link bytes end before the record does");
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  long() {
    let shift = 0n, result = 0n;
    for (;;) {
      const byte = BigInt(this.take(1)[0]);
      result |= (byte & 0x7fn) << shift;
      if (!(byte & 0x80n)) break;
      shift += 7n;
      if (shift > 63n) throw new Error("a varint in the link bytes is too long");
    }
    return Number((result >> 1n) ^ -(result & 1n));
  }
}

function decode(schema, reader) {
  if (Array.isArray(schema)) {
    const branch = reader.long();
    if (branch < 0 || branch >= schema.length) throw new Error("union branch " + branch + " does not exist");
    return decode(schema[branch], reader);
  }
  const kind = typeof schema === "string" ? schema : schema.type;
  switch (kind) {
    case "null": return null;
    case "boolean": return reader.take(1)[0] !== 0;
    case "int": case "long": return reader.long();
    case "float": return new DataView(reader.take(4).slice().buffer).getFloat32(0, true);
    case "double": return new DataView(reader.take(8).slice().buffer).getFloat64(0, true);
    case "string": return new TextDecoder("utf-8", { fatal: true }).decode(reader.take(reader.long()));
    case "bytes": return toHex(reader.take(reader.long()));
    case "enum": return schema.symbols[reader.long()];
    case "record": {
      const out = {};
      for (const f of schema.fields) out[f.name] = decode(f.type, reader);
      return out;
    }
    case "array": case "map": {
      const items = [], entries = {};
      for (;;) {
        let count = reader.long();
        if (count === 0) break;
        if (count < 0) { count = -count; reader.long(); }
        for (let i = 0; i < count; i++) {
          if (kind === "array") items.push(decode(schema.items, reader));
          else {
            const key = decode("string", reader);
            if (key in entries) throw new Error("map key " + key + " is written twice");
            entries[key] = decode(schema.values, reader);
          }
        }
      }
      return kind === "array" ? items : entries;
    }
    default: throw new Error("schema type " + kind + " is not supported");
  }
}

async function rootFromPath(index, size, leaf, path) {
  if (index < 0 || index >= size) throw new Error("leaf index " + index + " is outside a tree of " + size);
  let fn = index, sn = size - 1, r = leaf;
  for (const p of path) {
    if (sn === 0) throw new Error("the audit path is longer than the tree allows");
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(concat([1], p, r));
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await sha256(concat([1], r, p));
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error("the audit path is shorter than the tree requires");
  return r;
}

function statement(cp) {
  return "audit-layer checkpoint v1\ntenant=" + cp.tenant_id + "\nfirst_seq=" + cp.first_seq + "\nlast_seq=" +
    cp.last_seq + "\nhead=" + cp.head_hash + "\nroot=" + cp.merkle_root + "\ntime_us=" + cp.created_at_us +
    "\nkey_id=" + cp.key_id + "\n";
}

async function check(proof, page) {
  if (proof.format !== "audit-layer-inclusion-proof/v2") throw new Error("not an audit-layer-inclusion-proof/v2");
  const link = hex(proof.link_bytes, "link_bytes");
  const prev = hex(proof.prev_hash, "prev_hash", 32);
  const hash = hex(proof.hash, "hash", 32);
  const path = proof.audit_path.map((p) => hex(p, "audit_path entry", 32));
  const cp = proof.checkpoint;
  if (!same(await sha256(concat(prev, link)), hash)) throw new Error("the record does not hash to its chain hash");
  if (link.length < 16) throw new Error("the link bytes are shorter than their header");
  const seq = Number(new DataView(link.buffer, link.byteOffset, 8).getBigUint64(0));
  if (seq !== proof.seq || seq !== page.shown.seq) throw new Error("the link bytes are for seq " + seq);
  const pinned = page.pinned[toHex(link.subarray(8, 16))];
  if (!pinned || toHex(await sha256(enc.encode(proof.link_schema))) !== pinned) {
    throw new Error("the link schema is not a pinned schema");
  }
  const reader = new Reader(link.subarray(16));
  const record = decode(JSON.parse(proof.link_schema), reader);
  if (reader.pos !== reader.bytes.length) throw new Error("the link bytes hold more than one record");
  const event = record.event;
  const shown = page.shown;
  const fields = { event_id: event.event_id, tenant_id: event.tenant_id, decision_type: event.decision_type,
                   decision_outcome: event.decision_outcome, model: event.model, action: event.action,
                   risk_level: record.risk_level, hash: proof.hash };
  for (const [name, value] of Object.entries(fields)) {
    if ((value ?? null) !== (shown[name] ?? null)) {
      throw new Error("this page shows " + name + " " + shown[name] + ", the hashed record holds " + value);
    }
  }
  if (cp.tenant_id !== event.tenant_id) throw new Error("the checkpoint is for another tenant");
  const size = Number(cp.last_seq);
  if (seq < 1 || seq > size) throw new Error("seq " + seq + " is not covered by the checkpoint");
  const leaf = await sha256(concat([0], hash));
  const root = await rootFromPath(seq - 1, size, leaf, path);
  if (!same(root, hex(cp.merkle_root, "merkle_root", 32))) {
    throw new Error("the audit path does not lead to the checkpoint's Merkle root");
  }
  const published = page.keys[cp.key_id];
  if (!published) throw new Error("the checkpoint is signed by key " + cp.key_id + ", not a published key");
  const key = await crypto.subtle.importKey("raw", b64(published), { name: "Ed25519" }, false, ["verify"]);
  const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, b64(cp.signature), enc.encode(statement(cp)));
  if (!ok) throw new Error("the checkpoint signature does not verify with the published key");
  return "leaf " + seq + " of the tree of " + size + " signed by key " + cp.key_id;
}

(async () => {
  const out = document.getElementById("browser-check");
  const page = JSON.parse(document.getElementById("proof-data").textContent);
  try {
    const response = await fetch(page.proof_url, { credentials: "same-origin" });
    if (!response.ok) throw new Error("the proof could not be fetched (HTTP " + response.status + ")");
    const detail = await check(await response.json(), page);
    out.textContent = "proof verified: " + detail;
    out.className = "ok";
  } catch (error) {
    out.textContent = "FAILED: " + error.message;
    out.className = "bad";
  }
  out.dataset.done = "true";
})();
