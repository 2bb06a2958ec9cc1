#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// mailauth (npm, pinned to 4.6.9 in package.json: it runs on Node 18) as an offline ARC oracle
// for the interop tests.
//
//   node mailauth_oracle.js verify FILE ZONEJSON
//       prints the chain validation status (.arc.status.result): pass | fail | none
//       exit 0 pass/none, 1 fail
//   node mailauth_oracle.js sign FILE ZONEJSON KEY DOMAIN SELECTOR SRVID [--time T]
//       prints the whole message with a new ARC set prepended
//   node mailauth_oracle.js serve
//       one JSON request per stdin line, one JSON answer per stdout line (used by interop.py
//       so that Node starts once per run):
//         {"op":"verify","file":F,"zone":Z}                  -> {"ok":true,"cv":..,"comment":..}
//         {"op":"sign","file":F,"zone":Z,"key":K,"domain":D,"selector":S,"srvid":ID,
//          "time":T,"out":OUTFILE}                           -> {"ok":true}
//         errors                                             -> {"ok":false,"error":"..."}
//
// ZONEJSON maps a key name to its TXT record:
//   {"sel._domainkey.example.org": "v=DKIM1; k=rsa; p=..."}
// The resolver hands mailauth the record cut into 255-octet character-strings as DNS would.
//
// Sealing mimics a real sealer, as dkimpy_oracle.py does: unless the message already carries an
// `Authentication-Results: SRVID; ...` field (a hop that verified on receipt and then edited the
// message), the chain is verified first and `Authentication-Results: SRVID; arc=<cv>` is
// prepended; the cv and the AAR payload given to sealMessage come from that field.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

let mailauth;
try {
    mailauth = require(path.join(__dirname, 'node_modules', 'mailauth'));
} catch (err) {
    process.stderr.write(`mailauth_oracle: cannot load mailauth (run npm ci in ${__dirname}): ` +
        `${err.message}\n`);
    process.exit(77);
}
const { authenticate, sealMessage } = mailauth;

const zoneCache = new Map();
const loadKeys = file => {
    if (!zoneCache.has(file)) {
        const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
        const keys = {};
        for (const [k, v] of Object.entries(raw)) {
            keys[k.toLowerCase().replace(/\.$/, '')] = v;
        }
        zoneCache.set(file, keys);
    }
    return zoneCache.get(file);
};

const makeResolver = keys => async (name, rrtype) => {
    const rec = rrtype === 'TXT' ? keys[String(name).toLowerCase().replace(/\.$/, '')] : undefined;
    if (rec === undefined) {
        const err = new Error(`queryTxt ENOTFOUND ${name}`);
        err.code = 'ENOTFOUND';
        throw err;
    }
    const strings = [];
    for (let i = 0; i < rec.length; i += 255) {
        strings.push(rec.slice(i, i + 255));
    }
    return [strings];
};

const verify = async (message, keys) => {
    const res = await authenticate(message, {
        resolver: makeResolver(keys),
        ip: '192.0.2.1',
        helo: 'client.example',
        sender: 'sender@example.com',
        mta: 'mailauth-oracle.invalid',
        disableDmarc: true,
        disableBimi: true
    });
    const status = (res.arc && res.arc.status) || {};
    return { cv: status.result || 'none', comment: status.comment || '' };
};

const lineSep = buf => (buf.includes('\r\n') || !buf.includes('\n') ? '\r\n' : '\n');

// the header section (up to the first empty line, or all of it)
const headerSection = buf => {
    const s = buf.toString('binary');
    const m = /\r?\n\r?\n/.exec(s);
    return m ? s.slice(0, m.index + 1) : s;
};

// the payload after "SRVID;" of an existing Authentication-Results field for srvid, or null
const findAuthRes = (buf, srvid) => {
    const lines = headerSection(buf).split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
        const m = /^authentication-results:\s*([^;\s]+)\s*;(.*)$/i.exec(lines[i]);
        if (m && m[1].toLowerCase() === srvid.toLowerCase()) {
            let value = m[2];
            while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1])) {
                value += ' ' + lines[++i].trim();
            }
            return value.trim();
        }
    }
    return null;
};

const sign = async (message, keys, opts) => {
    let payload = findAuthRes(message, opts.srvid);
    if (payload === null) {
        const { cv } = await verify(message, keys);
        payload = `arc=${cv}`;
        const field = `Authentication-Results: ${opts.srvid}; ${payload}${lineSep(message)}`;
        message = Buffer.concat([Buffer.from(field), message]);
    }
    const m = /(?:^|[;\s])arc=([a-z]+)/i.exec(payload);
    const cv = m ? m[1].toLowerCase() : 'none';
    const sealOpts = {
        signingDomain: opts.domain,
        selector: opts.selector,
        privateKey: fs.readFileSync(opts.key),
        authResults: `${opts.srvid}; ${payload}`,
        cv
    };
    if (!/^arc-seal\s*:/im.test(headerSection(message))) {
        // sealMessage leaves i= out of a first set unless told (it counts from an existing chain)
        sealOpts.i = 1;
    }
    if (opts.time !== undefined && opts.time !== null) {
        sealOpts.signTime = new Date(Number(opts.time) * 1000);
    }
    let sealed = (await sealMessage(message, sealOpts)).toString('binary');
    if (lineSep(message) === '\n') {
        sealed = sealed.replace(/\r\n/g, '\n');
    }
    return Buffer.concat([Buffer.from(sealed, 'binary'), message]);
};

const readInput = file => (file === '-' ? fs.readFileSync(0) : fs.readFileSync(file));

const serve = async () => {
    const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const line of rl) {
        if (!line.trim()) {
            continue;
        }
        let answer;
        try {
            const req = JSON.parse(line);
            const keys = loadKeys(req.zone);
            if (req.op === 'verify') {
                answer = Object.assign({ ok: true }, await verify(readInput(req.file), keys));
            } else if (req.op === 'sign') {
                fs.writeFileSync(req.out, await sign(readInput(req.file), keys, req));
                answer = { ok: true };
            } else {
                answer = { ok: false, error: `unknown op ${req.op}` };
            }
        } catch (err) {
            answer = { ok: false, error: String((err && err.stack) || err) };
        }
        process.stdout.write(JSON.stringify(answer) + '\n');
    }
};

const usage = () => {
    process.stderr.write(
        'usage: mailauth_oracle.js verify FILE ZONEJSON\n' +
            '       mailauth_oracle.js sign FILE ZONEJSON KEY DOMAIN SELECTOR SRVID [--time T]\n' +
            '       mailauth_oracle.js serve\n'
    );
    return 64;
};

const main = async argv => {
    if (argv[0] === 'serve') {
        await serve();
        return 0;
    }
    if (argv[0] === 'verify' && argv.length >= 3) {
        const { cv, comment } = await verify(readInput(argv[1]), loadKeys(argv[2]));
        process.stdout.write(`${cv}\n`);
        process.stderr.write(`mailauth: ${comment}\n`);
        return ['pass', 'none'].includes(cv) ? 0 : 1;
    }
    if (argv[0] === 'sign' && argv.length >= 7) {
        const rest = argv.slice(7);
        let time;
        if (rest[0] === '--time' && rest.length >= 2) {
            time = rest[1];
        } else if (rest.length) {
            process.stderr.write(`mailauth_oracle: unknown argument ${rest[0]}\n`);
            return 64;
        }
        const out = await sign(readInput(argv[1]), loadKeys(argv[2]), {
            key: argv[3],
            domain: argv[4],
            selector: argv[5],
            srvid: argv[6],
            time
        });
        process.stdout.write(out);
        return 0;
    }
    return usage();
};

main(process.argv.slice(2)).then(
    code => {
        process.exitCode = code;
    },
    err => {
        process.stderr.write(`mailauth_oracle: ${(err && err.stack) || err}\n`);
        process.exitCode = 70;
    }
);
