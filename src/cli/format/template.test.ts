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

test("errors read as Go's: parse errors with the action's line, execution errors with line and column", () => {
  assert.throws(() => compileTemplate('{{.Id'), { message: 'template: :1: unclosed action' });
  assert.throws(() => compileTemplate('x\n{{if .Id}}x'), { message: 'template: :2: unexpected EOF' });
  assert.throws(() => compileTemplate('{{.Id}}\n{{nosuch .Id}}'), { message: 'template: :2: function "nosuch" not defined' });
  assert.throws(() => run('{{.Nope}}'), { message: 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"' });
  // A chain is placed at its second link, as Go places it.
  assert.throws(() => run('id {{ .State.Nope }}'), { message: 'template: :1:12: executing "" at <.State.Nope>: map has no entry for key "Nope"' });
  assert.throws(() => run('{{.Id}}\n  {{.Id.Foo}}'), { message: 'template: :2:7: executing "" at <.Id.Foo>: can\'t evaluate field Foo in type interface {}' });
  assert.throws(() => run('{{range.Config.Env}}{{$.Nope}}{{end}}'), { message: 'template: :1:23: executing "" at <$.Nope>: map has no entry for key "Nope"' });
  // A value standing for one of the docker CLI's structs.
  const row = compileTemplate('{{.ID}} {{.Nope}}', { name: 'x', struct: '*formatter.ContainerContext' });
  assert.throws(() => row.execute({ ID: 'a' }), { message: 'template: x:1:10: executing "x" at <.Nope>: can\'t evaluate field Nope in type *formatter.ContainerContext' });
});

test("json as the docker CLI's: no HTML escaping but for a list's row, which marshals with its keys sorted", () => {
  assert.equal(run('{{json .}}', { b: '<none> & more\u2028', a: 1 }), '{"b":"<none> & more\\u2028","a":1}');
  assert.equal(compileTemplate('{{json .}}', { row: true }).execute({ b: '<1>', a: '2' }), '{"a":"2","b":"\\u003c1\\u003e"}');
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
