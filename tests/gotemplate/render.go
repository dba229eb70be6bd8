// Renders an Ollama Modelfile TEMPLATE with Go's text/template, the engine Ollama executes it with, and the
// values Ollama gives a chat: .Messages (every message, system ones included) and .System (the system
// messages' contents joined by a blank line). Reads {"Template": ..., "Messages": [{"Role", "Content"}]} as
// JSON on stdin, writes the rendered prompt to stdout. Standard library only, so it builds offline.
package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/template"
)

type Message struct{ Role, Content string }

func main() {
	var in struct {
		Template string
		Messages []Message
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	var system []string
	for _, m := range in.Messages {
		if m.Role == "system" {
			system = append(system, m.Content)
		}
	}
	t := template.Must(template.New("TEMPLATE").Parse(in.Template))
	if err := t.Execute(os.Stdout, map[string]any{"System": strings.Join(system, "\n\n"), "Messages": in.Messages}); err != nil {
		panic(err)
	}
}
