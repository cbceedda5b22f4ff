package generator

import (
	"bytes"
	"embed"
	"fmt"
	"sync"
	"text/template"

	"github.com/citusgen/citusgen/quote"
)

// The templates of every artifact; each file defines named templates.
//
//go:embed *.tmpl
var templateFiles embed.FS

// templateFuncs are the quoting helpers every template may call.
var templateFuncs = template.FuncMap{
	"yaml":    quote.YAMLScalar,
	"compose": quote.ComposeLiteral,
	"py":      quote.PyLiteral,
	"ident":   quote.SQLIdent,
	"literal": quote.SQLLiteral,
}

var parsedTemplates = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("citusgen").Funcs(templateFuncs).ParseFS(templateFiles, "*.tmpl"))
})

// execute renders the named template with data.
func execute(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := parsedTemplates().ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", name, err)
	}
	return b.Bytes(), nil
}
