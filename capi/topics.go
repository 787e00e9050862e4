package main

/*
#include <stdlib.h>
#include <string.h>
#include "hub_internal.h"
*/
import "C"

import (
	"github.com/libws/libws/libws/hub"
)

func init() {
	defineInt(C.WS_OPT_HUB_REUSEPORT, "WS_OPT_HUB_REUSEPORT", 0, 0, 1)
	defineStr(C.WS_OPT_HUB_BROKER, "WS_OPT_HUB_BROKER", func(s string) error {
		if s == "" {
			return nil
		}
		return hub.CheckBrokerURL(s)
	})
}

//export ws_hub_topic_count
func ws_hub_topic_count(c *C.ws_hub_t, topic *C.char) (n C.int64_t) {
	var rc C.int
	defer func() {
		if rc != C.WS_OK {
			n = C.int64_t(rc)
		}
	}()
	defer recoverTo(&rc)
	h := goHub(c)
	if h == nil {
		return C.int64_t(badHub("ws_hub_topic_count"))
	}
	var name string
	if topic != nil {
		name = C.GoStringN(topic, C.int(C.strnlen(topic, hub.MaxTopicLen+1)))
	}
	if name == "" || len(name) > hub.MaxTopicLen {
		return C.int64_t(hubFail(c, C.WS_EINVAL, "ws_hub_topic_count: a topic name has 1 to %d bytes", hub.MaxTopicLen))
	}
	return C.int64_t(h.TopicCount(name))
}
