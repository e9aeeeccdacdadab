package box

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// Webhooks v2 (https://developer.box.com/guides/webhooks/v2/ and .../signatures-v2, NOTES 1b):
// body {type:"webhook_event", id, created_at, trigger, webhook{id,type}, created_by, source},
// headers BOX-DELIVERY-ID (new per attempt), BOX-DELIVERY-TIMESTAMP, BOX-SIGNATURE-PRIMARY/
// SECONDARY = base64(HMAC-SHA256(key, body || timestamp)), BOX-SIGNATURE-VERSION 1,
// BOX-SIGNATURE-ALGORITHM HmacSHA256, User-Agent Box-WH-Client/0.1. Retried on non-2xx; the body
// id stays the same across retries.

type webhook struct {
	id, targetType, targetID, address string
	triggers                          []string
	createdBy                         string
	created                           time.Time
}

func (w *webhook) json(e *Emulator) map[string]any {
	return map[string]any{"id": w.id, "type": "webhook", "target": map[string]any{"id": w.targetID, "type": w.targetType},
		"created_by": userMini(e.byID[w.createdBy]), "created_at": boxTime(w.created), "address": w.address, "triggers": w.triggers}
}

// webhookTriggers are the v2 triggers Box sends for each admin event type, by item type.
var webhookTriggers = map[string][2]string{ // event type -> {file trigger, folder trigger}
	"UPLOAD":                    {"FILE.UPLOADED", "FOLDER.CREATED"},
	"EDIT":                      {"FILE.UPLOADED", ""},
	"RENAME":                    {"FILE.RENAMED", "FOLDER.RENAMED"},
	"MOVE":                      {"FILE.MOVED", "FOLDER.MOVED"},
	"DELETE":                    {"FILE.TRASHED", "FOLDER.TRASHED"},
	"UNDELETE":                  {"FILE.RESTORED", "FOLDER.RESTORED"},
	"COPY":                      {"FILE.COPIED", "FOLDER.COPIED"},
	"DOWNLOAD":                  {"FILE.DOWNLOADED", "FOLDER.DOWNLOADED"},
	"PREVIEW":                   {"FILE.PREVIEWED", ""},
	"SHARE":                     {"SHARED_LINK.CREATED", "SHARED_LINK.CREATED"},
	"ITEM_SHARED_UPDATE":        {"SHARED_LINK.UPDATED", "SHARED_LINK.UPDATED"},
	"UNSHARE":                   {"SHARED_LINK.DELETED", "SHARED_LINK.DELETED"},
	"COLLABORATION_INVITE":      {"COLLABORATION.CREATED", "COLLABORATION.CREATED"},
	"COLLABORATION_ROLE_CHANGE": {"COLLABORATION.UPDATED", "COLLABORATION.UPDATED"},
	"COLLABORATION_REMOVE":      {"COLLABORATION.REMOVED", "COLLABORATION.REMOVED"},
}

// fireWebhooks queues deliveries for webhooks on the item or a folder above it. Called with e.mu
// held; the deliveries run on their own goroutines.
func (e *Emulator) fireWebhooks(r *record, it *item) {
	if len(e.webhooks) == 0 || e.hooks.Losing() {
		return
	}
	tr := webhookTriggers[r.act.EventType]
	trigger := tr[0]
	if it.typ == "folder" {
		trigger = tr[1]
	}
	if trigger == "" {
		return
	}
	targets := map[string]bool{it.typ + ":" + it.id: true}
	for _, a := range e.ancestors(it) {
		if !a.root {
			targets["folder:"+a.id] = true
		}
	}
	ids := make([]string, 0, len(e.webhooks))
	for id := range e.webhooks {
		ids = append(ids, id)
	}
	slices.Sort(ids) // deterministic use of the seeded generator
	for _, id := range ids {
		w := e.webhooks[id]
		if !targets[w.targetType+":"+w.targetID] || !slices.Contains(w.triggers, trigger) {
			continue
		}
		body, _ := json.Marshal(map[string]any{
			"type": "webhook_event", "id": e.uuid(), "created_at": boxTime(r.act.At), "trigger": trigger,
			"webhook":    map[string]any{"id": w.id, "type": "webhook"},
			"created_by": userMini(e.byID[r.act.ActorID]),
			"source":     e.itemJSON(it, e.byID[it.owner], nil, false),
		})
		addr := w.address
		e.wg.Add(1)
		go e.deliver(addr, body)
	}
}

// deliver posts one webhook body, retrying on failure WebhookRetries times.
func (e *Emulator) deliver(addr string, body []byte) {
	defer e.wg.Done()
	for attempt := 0; attempt <= e.o.WebhookRetries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(e.o.WebhookRetryDelay)
			select {
			case <-e.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		ok := e.attempt(addr, body)
		e.mu.Lock()
		if ok {
			e.stats.WebhookDeliveries++
		} else {
			e.stats.WebhookFailures++
		}
		e.mu.Unlock()
		if ok {
			return
		}
	}
	e.log.Warn("box emulator: webhook delivery gave up", "address", addr, "attempts", e.o.WebhookRetries+1)
}

func (e *Emulator) attempt(addr string, body []byte) bool {
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr, bytes.NewReader(body))
	if err != nil {
		return false
	}
	ts := boxTime(e.clk.Now())
	e.mu.Lock()
	delivery := e.uuid()
	e.mu.Unlock()
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	req.Header.Set("User-Agent", "Box-WH-Client/0.1")
	req.Header.Set("BOX-DELIVERY-ID", delivery)
	req.Header.Set("BOX-DELIVERY-TIMESTAMP", ts)
	req.Header.Set("BOX-SIGNATURE-PRIMARY", Sign(e.o.PrimaryKey, body, ts))
	req.Header.Set("BOX-SIGNATURE-SECONDARY", Sign(e.o.SecondaryKey, body, ts))
	req.Header.Set("BOX-SIGNATURE-VERSION", "1")
	req.Header.Set("BOX-SIGNATURE-ALGORITHM", "HmacSHA256")
	resp, err := e.httpClient.Do(req)
	if err != nil {
		e.log.Debug("box emulator: webhook delivery failed", "address", addr, "err", err)
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// Sign is Box's webhook v2 signature: base64(HMAC-SHA256(key, body || timestamp)).
func Sign(key string, body []byte, timestamp string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	m.Write([]byte(timestamp))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
