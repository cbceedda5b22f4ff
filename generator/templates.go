package generator

import (
	"bytes"
	"fmt"
	"sync"
	"text/template"

	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/templates"
)

// templateFuncs are the quoting helpers every template may call.
var templateFuncs = template.FuncMap{
	"yaml":    quote.YAMLScalar,
	"compose": quote.ComposeLiteral,
	"py":      quote.PyLiteral,
	"ident":   quote.SQLIdent,
	"literal": quote.SQLLiteral,
}

var parsedTemplates = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("citusgen").Funcs(templateFuncs).ParseFS(templates.Files, "*.tmpl"))
})

// execute renders the named template with data.
func execute(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := parsedTemplates().ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", name, err)
	}
	return b.Bytes(), nil
}
