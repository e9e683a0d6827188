import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTemplate, goString } from './template';

const c = {
  Id: 'abc123',
  Name: '/web',
  State: { Status: 'running', Running: true, ExitCode: 0, Pid: 42 },
  Config: { Env: ['A=1', 'B=2'], Labels: { 'com.x': 'y' }, Cmd: ['sleep', '10'], Entrypoint: null },
  NetworkSettings: { Networks: { bridge: { IPAddress: '172.17.0.2' }, other: { IPAddress: '10.0.0.2' } } },
  Mounts: [],
};
const run = (t: string, data: unknown = c) => compileTemplate(t).execute(data);

test('field chains and literal text', () => {
  assert.equal(run('{{.State.Status}}'), 'running');
  assert.equal(run('{{.Id}}'), 'abc123');
  assert.equal(run('id={{.Id}} pid={{.State.Pid}}'), 'id=abc123 pid=42');
  assert.equal(run('{{.State.Running}}'), 'true');
  assert.throws(() => run('{{.Nope}}'), /map has no entry for key "Nope"/);
});

test('json prints compact JSON', () => {
  assert.equal(run('{{json .Config}}'), '{"Env":["A=1","B=2"],"Labels":{"com.x":"y"},"Cmd":["sleep","10"],"Entrypoint":null}');
  assert.equal(run('{{json .State.Status}}'), '"running"');
  assert.equal(run('{{.Config.Cmd | json}}'), '["sleep","10"]');
});

test('Go %v rendering of slices, maps and nil', () => {
  assert.equal(run('{{.Config.Env}}'), '[A=1 B=2]');
  assert.equal(run('{{.Config.Labels}}'), 'map[com.x:y]');
  assert.equal(run('{{.State.Health}}', { State: { Health: null } }), '<nil>');
  assert.equal(goString({ b: 1, a: [true, 'x'] }), 'map[a:[true x] b:1]');
});

test('range, if/else, with, index, join and variables', () => {
  assert.equal(run('{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}'), '172.17.0.2 10.0.0.2 ');
  assert.equal(run('{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}};{{end}}'), 'bridge=172.17.0.2;other=10.0.0.2;');
  assert.equal(run('{{range .Mounts}}x{{else}}none{{end}}'), 'none');
  assert.equal(run('{{if .State.Running}}up{{else}}down{{end}}'), 'up');
  assert.equal(run('{{if eq .State.ExitCode 1}}one{{else if eq .State.ExitCode 0}}zero{{else}}other{{end}}'), 'zero');
  assert.equal(run('{{with .State}}{{.Status}}{{end}}'), 'running');
  assert.equal(run('{{index .Config.Labels "com.x"}}'), 'y');
  assert.equal(run('{{index .Config.Env 1}}'), 'B=2');
  assert.equal(run('{{join .Config.Env ","}}'), 'A=1,B=2');
  assert.equal(run('{{upper .State.Status}} {{len .Config.Env}}'), 'RUNNING 2');
  assert.equal(run('{{range .Config.Env}}{{$.Name}}:{{.}} {{end}}'), '/web:A=1 /web:B=2 ');
  assert.equal(run('{{printf "%s-%d" .Id .State.Pid}}'), 'abc123-42');
});

test('trim markers eat the surrounding spaces', () => {
  assert.equal(run('a  {{- .Id -}}  b'), 'aabc123b');
});

test('errors are reported as template errors', () => {
  assert.throws(() => compileTemplate('{{.Id'), /template: unclosed action/);
  assert.throws(() => compileTemplate('{{if .Id}}x'), /missing \{\{end\}\}/);
  assert.throws(() => run('{{nosuch .Id}}'), /function "nosuch" not defined/);
});

test('keywords may run straight into their pipeline, as Go allows', () => {
  assert.equal(run('{{range.Config.Env}}[{{.}}]{{end}}'), '[A=1][B=2]');
  assert.equal(run('{{if.State.Running}}up{{end}}'), 'up');
});

test('null slices and maps print as Go typed nils', () => {
  assert.equal(run('{{.Config.Entrypoint}}'), '[]');
  assert.equal(run('{{.x.Labels}}', { x: { Labels: null } }), 'map[]');
  assert.equal(run('{{json .Config.Entrypoint}}'), 'null');
});
