package topology

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/citus"
)

// Adding a key to the spec is one tagged field: the decoder accepts it
// (and suggests it for a typo), reads its value by the field's kind,
// requires it when told, gives it its default when the spec leaves it out,
// and the JSON Schema describes it.
func TestAKeyIsOneField(t *testing.T) {
	type section struct {
		Count  int    `key:"count" required:"true" range:"count"`
		Volume string `key:"volume_name" pattern:"env" default:"CITUS_DATA" doc:"Where the data lives."`
		Fast   bool   `key:"fast" default:"true"`
	}
	decode := func(spec string) (section, Errors) {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(spec), &doc); err != nil {
			t.Fatal(err)
		}
		var s section
		d := &decoder{file: "t.yaml", pos: map[string]Pos{}}
		d.section(doc.Content[0], "", reflect.ValueOf(&s).Elem(), "")
		declaredDefaults(reflect.ValueOf(&s).Elem(), "", d)
		return s, d.errs
	}
	if s, errs := decode("count: 3\nfast: false\n"); len(errs) > 0 || s != (section{Count: 3, Volume: "CITUS_DATA", Fast: false}) {
		t.Errorf("decoded %+v, errors %v", s, errs)
	}
	_, errs := decode("volume_nam: X\n")
	want := `t.yaml:1:1: volume_nam: unknown key (did you mean "volume_name"?); valid keys here: count, volume_name, fast` + "\n" +
		`t.yaml:1:1: count: is required but missing`
	if errs.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", errs, want)
	}
	schema, _ := json.Marshal(object(reflect.TypeFor[section](), ""))
	wantSchema := `{"additionalProperties":false,"properties":{` +
		`"count":{"maximum":10000,"minimum":1,"type":"integer"},` +
		`"fast":{"default":true,"type":"boolean"},` +
		`"volume_name":{"default":"CITUS_DATA","description":"Where the data lives.","maxLength":63,"pattern":"^[A-Z_][A-Z0-9_]*$","type":"string"}},` +
		`"required":["count"],"type":"object"}`
	if string(schema) != wantSchema {
		t.Errorf("schema:\n%s\nwant:\n%s", schema, wantSchema)
	}
}

// The manager image's default is of the repository citusgen recognises
// the manager by. (Every default tag reads as its field's type, or the
// package would not initialise.)
func TestManagerImageDefault(t *testing.T) {
	if img := declared.ManagerImage; !strings.HasPrefix(img, citus.ManagerRepository+":") {
		t.Errorf("manager image default %s", img)
	}
}
