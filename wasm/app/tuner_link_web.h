// The page's end of the fine-tuning worker link: postMessage through the page's JavaScript
// (web/static/shell.js owns the Worker; its replies come back through main_web.cpp's app_tuner_*).
#pragma once
#include "worker_fine_tune_driver.h"

namespace digitlab {

class WebTunerLink : public FineTuneWorkerLink {
 public:
  bool ready() const override;
  void start(int session, const FineTuneRequest& request) override;
  void cancel(int session) override;
};

}  // namespace digitlab
